"""``RateLimiter``: spaces request attempts so no more than ``rate`` start per second."""

from __future__ import annotations

import math

from ._clock import Clock, current_clock
from ._validation import number

__all__ = ["RateLimiter", "check_rate"]


def check_rate(rate: object) -> float | None:
    """Return ``rate`` as a float, ``None`` for no limit; raise if it is not a number > 0."""
    return None if rate is None else float(number("rate_limit", rate, above=0))


class RateLimiter:
    """Lets callers start at most ``rate`` attempts per second, evenly spaced.

    Each call to :meth:`acquire` reserves the next free slot (``1 / rate`` seconds
    after the previous one) and sleeps until it. Reserving is synchronous, so any
    number of tasks may share one limiter; there is no burst above the rate.

    Example:
        ```python
        limiter = RateLimiter(50)  # 50 attempts per second
        await limiter.acquire()
        ```
    """

    __slots__ = ("_clock", "_interval", "_next")

    def __init__(self, rate: float, *, clock: Clock | None = None) -> None:
        self._interval = 1.0 / rate
        self._clock = clock or current_clock()
        self._next = -math.inf

    async def acquire(self) -> None:
        """Wait for this caller's slot."""
        now = self._clock.now()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await self._clock.sleep(slot - now)
