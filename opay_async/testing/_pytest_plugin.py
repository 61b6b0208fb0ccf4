"""pytest fixtures for code that uses opay-async (loaded by the ``pytest11`` entry point).

- ``opay_fake``: a fresh :class:`~opay_async.testing.FakeOPay` for each test.
- ``opay_instant_retries``: the SDK on a virtual clock for the test (retry waits do not
  sleep); yields the clock, whose ``sleeps`` records every wait.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._clock import VirtualClock, instant_retries
from ._fake import FakeOPay

__all__ = ["opay_fake", "opay_instant_retries"]


@pytest.fixture
def opay_fake() -> FakeOPay:
    """A fresh in-process OPay with the default merchant id and key.

    Example:
        ```python
        async def test_cancel(opay_fake):
            opay_fake.add_payment(reference="SHOP-1")
            async with opay_fake.client() as opay:
                await my_service.cancel(opay, "SHOP-1")
            assert opay_fake.payment(reference="SHOP-1").is_closed
        ```
    """
    return FakeOPay()


@pytest.fixture
def opay_instant_retries() -> Iterator[VirtualClock]:
    """Retry waits of the SDK return at once during the test."""
    with instant_retries() as clock:
        yield clock
