"""Time as the SDK sees it: real by default, virtual under ``opay_async.testing``."""

from __future__ import annotations

import asyncio
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


class VirtualClock:
    """A clock whose sleeps return at once and move its time forward instead.

    Its time is real monotonic time plus every second slept, so deadlines still see
    the real time that passes while requests run.

    Attributes:
        sleeps: Every wait asked for, in order.
    """

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._skipped = 0.0

    def now(self) -> float:
        """Real monotonic time plus all virtual sleeps so far."""
        return time.monotonic() + self._skipped

    async def sleep(self, seconds: float) -> None:
        """Record ``seconds``, advance the clock by it and yield to the loop once."""
        self.sleeps.append(seconds)
        self._skipped += max(seconds, 0.0)
        await asyncio.sleep(0)


_REAL = RealClock()
_current: ContextVar[Clock] = ContextVar("opay_async_clock", default=_REAL)


def current_clock() -> Clock:
    """The clock in force in this context."""
    return _current.get()


def use_clock(clock: Clock) -> Token[Clock]:
    """Make ``clock`` the one in force in this context; returns a token for ``reset``."""
    return _current.set(clock)


def reset_clock(token: Token[Clock]) -> None:
    """Undo a :func:`use_clock`."""
    _current.reset(token)
