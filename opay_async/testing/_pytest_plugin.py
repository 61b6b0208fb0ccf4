"""pytest fixtures for code that uses opay-async (loaded by the ``pytest11`` entry point).

- ``opay_fake``: a fresh ``FakeOPay`` for each test.
- ``opay_client``: an ``OPayClient`` wired to ``opay_fake``, closed after
  the test.
- ``opay_instant_retries``: the SDK on a virtual clock for the test (retry waits do not
  sleep); yields the clock, whose ``sleeps`` records every wait.

The fixtures are plain (not async) fixtures, so they work with pytest-asyncio, anyio's
plugin or any other runner of async tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from .._client import OPayClient
from ._clock import VirtualClock, instant_retries
from ._fake import FakeOPay

__all__ = ["opay_client", "opay_fake", "opay_instant_retries"]


@pytest.fixture
def opay_fake() -> FakeOPay:
    """A fresh in-process OPay with the default merchant id and key, and no payments.

    Examples:
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
def opay_client(opay_fake: FakeOPay) -> Iterator[OPayClient]:
    """An ``OPayClient`` wired to ``opay_fake`` (default options), closed after the test.

    Its retries wait for real: add ``opay_instant_retries`` to a test that retries.

    Examples:
        ```python
        async def test_cancel(opay_fake, opay_client, opay_instant_retries):
            opay_fake.add_payment(reference="SHOP-1")
            opay_fake.fail_next(2)
            payment = await opay_client.close_payment(reference="SHOP-1", country="EG")
            assert payment.is_closed
        ```
    """
    client = opay_fake.client()
    yield client
    # Its connection pool is the simulator's in-process transport: it holds no socket
    # and no event loop, so closing it on a loop of our own is safe whichever loop (or
    # async test plugin) ran the test.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(client.aclose())
    finally:
        loop.close()


@pytest.fixture
def opay_instant_retries() -> Iterator[VirtualClock]:
    """Retry waits of the SDK return at once during the test; yields the virtual clock.

    Examples:
        ```python
        async def test_retries(opay_fake, opay_instant_retries):
            opay_fake.fail_next(2)
            ...
            assert len(opay_instant_retries.sleeps) == 2
        ```
    """
    with instant_retries() as clock:
        yield clock
