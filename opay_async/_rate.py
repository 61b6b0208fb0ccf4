"""``RateLimiter``: spaces request attempts so no more than ``rate`` start per second."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Final

from ._clock import Clock, current_clock
from ._validation import MAX_SECONDS, number

__all__ = ["MAX_RATE", "MIN_RATE", "RateLimiter", "check_rate"]

#: The lowest rate: one attempt a day (a slower one would wait longer than any timeout).
MIN_RATE: Final = 1 / MAX_SECONDS
#: The highest rate, attempts per second (far above what one process can send).
MAX_RATE: Final = 1_000_000.0


def check_rate(rate: object) -> float | None:
    """Return ``rate`` as a float, ``None`` for no limit; raise unless one a day to 1e6/s."""
    if rate is None:
        return None
    return float(number("rate_limit", rate, at_least=MIN_RATE, at_most=MAX_RATE))


class RateLimiter:
    """Lets callers start at most ``rate`` attempts per second, evenly spaced.

    Each call to [`acquire`][opay_async._rate.RateLimiter.acquire] reserves the next
    free slot (``1 / rate`` seconds after the previous one) and sleeps until it.
    Reserving is synchronous, so any number of tasks may share one limiter, and there is
    no burst above the rate: in any second, at most ``rate`` attempts start (one more
    when the second begins exactly on a slot).

    Hand-written rather than taken from a library such as aiolimiter: a leaky bucket
    lets a burst of ``rate`` attempts start at the same instant, which a server counting
    over sub-second windows sees as far above the rate; and this one reads the SDK's
    clock (virtual in tests) instead of the event loop's.

    Args:
        rate: Attempts per second.
        clock: The clock to read and sleep on; the one in force at each call by default.

    Examples:
        ```python
        limiter = RateLimiter(50)  # 50 attempts per second
        await limiter.acquire()
        ```
    """

    __slots__ = ("_clock", "_interval", "_next", "rate")

    def __init__(self, rate: float, *, clock: Clock | None = None) -> None:
        self.rate = rate
        self._interval = 1.0 / rate
        self._clock = clock
        self._next = -math.inf

    async def acquire(self, sleep: Callable[[Clock, float], Awaitable[None]] | None = None) -> None:
        """Wait for this caller's slot.

        Args:
            sleep: How to wait on the clock (a wait that may end early: a stopped run's);
                ``clock.sleep`` by default.
        """
        clock = self._clock or current_clock()
        now = clock.now()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            if sleep is None:
                await clock.sleep(slot - now)
            else:
                await sleep(clock, slot - now)

    def __repr__(self) -> str:
        return f"RateLimiter(rate={getattr(self, 'rate', None)!r})"
