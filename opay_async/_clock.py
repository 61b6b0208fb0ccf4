"""Time as the SDK sees it: real by default, virtual under ``opay_async.testing``."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from contextvars import ContextVar, Token
from typing import Protocol

__all__ = ["Clock", "RealClock", "VirtualClock", "current_clock", "reset_clock", "use_clock"]


class Clock(Protocol):
    """Where retries and rate limits read the time and sleep."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class RealClock:
    """The event loop's own time and ``asyncio.sleep``."""

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``."""
        await asyncio.sleep(seconds)


def _zero() -> float:
    return 0.0


class VirtualClock:
    """A clock whose sleeps do not wait: time jumps to the next sleeper's wake-up instead.

    Sleepers wake in the order of their wake-up times, one per turn of the event
    loop, and the clock's time moves forward to each wake-up time as it comes. Its
    time is real monotonic time plus the seconds skipped, so deadlines still see the
    real time that passes while requests run. Concurrent sleeps overlap as they would
    in real time: ten tasks sleeping one second each move the clock by one second.

    Args:
        follow_real_time: Add real monotonic time to the clock's (the default). Without
            it, the clock moves only by the sleeps: fully deterministic, for tests that
            compare times exactly.

    Attributes:
        sleeps: Every wait asked for, in order.
    """

    def __init__(self, *, follow_real_time: bool = True) -> None:
        self.sleeps: list[float] = []
        self._real = time.monotonic if follow_real_time else _zero
        self._skipped = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._waking = False

    def now(self) -> float:
        """Real monotonic time (unless not followed) plus all the time skipped so far."""
        return self._real() + self._skipped

    async def sleep(self, seconds: float) -> None:
        """Record ``seconds`` and return once every earlier sleeper has woken."""
        self.sleeps.append(seconds)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        wake_at = self.now() + max(seconds, 0.0)
        heapq.heappush(self._sleepers, (wake_at, next(self._counter), future))
        if not self._waking:
            self._waking = True
            loop.call_soon(self._wake_next, loop)
        await future

    def _wake_next(self, loop: asyncio.AbstractEventLoop) -> None:
        wake_at, _, future = heapq.heappop(self._sleepers)
        self._skipped += max(0.0, wake_at - self.now())
        if not future.done():  # a cancelled sleeper is simply skipped
            future.set_result(None)
        if self._sleepers:
            loop.call_soon(self._wake_next, loop)
        else:
            self._waking = False


_REAL = RealClock()
_current: ContextVar[Clock] = ContextVar("opay_async_clock", default=_REAL)


def current_clock() -> Clock:
    """The clock in force in this context."""
    return _current.get()


def use_clock(clock: Clock) -> Token[Clock]:
    """Make ``clock`` the one in force in this context; returns a token for ``reset``."""
    return _current.set(clock)


def reset_clock(token: Token[Clock]) -> None:
    """Undo a `use_clock`."""
    _current.reset(token)
