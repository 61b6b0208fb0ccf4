"""The simulator's latency: a fixed or random real wait before each answer."""

from __future__ import annotations

import asyncio
import random
from typing import Final

from .._errors import OPayValidationError
from .._validation import number

__all__ = ["MAX_LATENCY", "Latency", "parse_latency"]

#: The longest latency the simulator takes, in seconds.
MAX_LATENCY: Final = 600.0


class Latency:
    """Waits ``minimum`` seconds, or a random time between ``minimum`` and ``maximum``.

    The wait is a real ``asyncio.sleep`` (client timeouts run on real time), drawn from a
    generator seeded with 0, so a run's latencies are reproducible.
    """

    def __init__(self) -> None:
        self.minimum = 0.0
        self.maximum = 0.0
        self._random = random.Random(0)  # noqa: S311 (latency jitter, not cryptography)

    def set(self, minimum: float, maximum: float | None = None) -> None:
        """Wait ``minimum`` seconds, or a random time up to ``maximum``."""
        low = number("latency", minimum, at_least=0, at_most=MAX_LATENCY)
        high = (
            low if maximum is None else number("latency", maximum, at_least=0, at_most=MAX_LATENCY)
        )
        if high < low:
            raise OPayValidationError(
                "latency", f"needs 0 <= minimum <= maximum, got {low!r}, {high!r}"
            )
        self.minimum, self.maximum = float(low), float(high)

    @property
    def mean(self) -> float:
        """The mean wait in seconds."""
        return (self.minimum + self.maximum) / 2

    async def wait(self) -> None:
        """Sleep for this latency (not at all when it is zero)."""
        low, high = self.minimum, self.maximum
        if high > 0:
            await asyncio.sleep(low if low == high else self._random.uniform(low, high))


def parse_latency(spec: str) -> tuple[float, float]:
    """``(minimum, maximum)`` seconds from a command-line value: ``"0.05"`` or ``"0.01-0.05"``.

    Raises:
        OPayValidationError: Not one number or a ``MIN-MAX`` pair of seconds in
            [0, 600], or ``MIN`` above ``MAX``.

    Examples:
        >>> parse_latency("0.05"), parse_latency("0.01-0.05")
        ((0.05, 0.05), (0.01, 0.05))
    """
    low_text, dash, high_text = spec.strip().partition("-")
    try:
        low = float(low_text)
        high = float(high_text) if dash else low
    except ValueError:
        raise OPayValidationError(
            "latency", f"must be SECONDS or MIN-MAX, e.g. 0.05 or 0.01-0.05, got {_short(spec)}"
        ) from None
    latency = Latency()
    latency.set(low, high)
    return latency.minimum, latency.maximum


def _short(spec: str) -> str:
    """``spec`` quoted, cut to 40 characters (a command line may hold 5000 nines)."""
    return repr(spec if len(spec) <= 40 else spec[:37] + "...")
