"""``instant_retries``: retry waits that do not sleep, for tests."""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager

from .._clock import VirtualClock, reset_clock, use_clock

__all__ = ["VirtualClock", "instant_retries"]


@contextmanager
def instant_retries() -> Generator[VirtualClock, None, None]:
    """Put the SDK on a virtual clock while the block runs: retry waits return at once.

    The clock moves forward by each wait instead, so retry deadlines and rate limits
    behave as if the time had passed. Its ``sleeps`` list records every wait. It is a
    context variable: tasks started inside the block inherit it.

    Examples:
        ```python
        with instant_retries() as clock:
            payment = await opay.close_payment(reference="A1", country="EG")
        print(clock.sleeps)  # e.g. [0.31, 0.77]
        ```
    """
    clock = VirtualClock()
    token = use_clock(clock)
    try:
        yield clock
    finally:
        reset_clock(token)
