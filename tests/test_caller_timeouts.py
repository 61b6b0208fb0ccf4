"""Whose timeout bounds an attempt through a caller's ``http_client``.

A client you pass is yours, with its settings: its own timeouts apply unless
``OPayClient(timeout=...)`` (or ``with_options(timeout=...)``) is given, and the retry
policy's ``timeout`` still bounds the whole call. The SDK's own pool, and a client the
SDK makes around a caller's ``transport``, use the SDK's timeout (30 s unless given).
Each test runs with the family under test (``hx``: httpx2, or legacy httpx in its lane),
against a loopback server that answers ``slow`` references after 0.5 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from opay_async import OPayClient, OPayTimeoutError, OrderStatus, RetryPolicy
from tests.helpers import MERCHANT_ID, SECRET_KEY, LoopbackOPay, hx, success

#: The server's delay: longer than the short timeouts, shorter than the long ones.
SLOW = 0.5


@pytest.fixture
async def server() -> AsyncIterator[str]:
    opay = LoopbackOPay(slow_seconds=SLOW)
    async with opay.running() as url:
        yield url


def through(http: Any, base_url: str, **options: Any) -> OPayClient:
    return OPayClient(
        MERCHANT_ID,
        SECRET_KEY,
        base_url=base_url,
        http_client=http,
        retry=options.pop("retry", RetryPolicy.none()),
        **options,
    )


async def timed_failure(opay: OPayClient) -> float:
    """Seconds until the slow close failed with ``OPayTimeoutError``."""
    started = time.monotonic()
    with pytest.raises(OPayTimeoutError):
        await opay.close_payment(reference="slow-1", country="EG")
    return time.monotonic() - started


async def test_the_callers_client_timeout_applies_when_none_is_given(server: str) -> None:
    async with hx.AsyncClient(timeout=0.2) as http:
        elapsed = await timed_failure(through(http, server))
    assert 0.15 <= elapsed < 0.45, elapsed  # the client's 0.2 s, not the SDK's 30 s


async def test_a_timeout_given_to_opayclient_applies_instead(server: str) -> None:
    async with hx.AsyncClient(timeout=0.2) as http:
        patient = through(http, server, timeout=2.0)
        payment = await patient.close_payment(reference="slow-2", country="EG")
        assert payment.order_status is OrderStatus.CLOSE  # waited past the client's 0.2 s
    async with hx.AsyncClient(timeout=10.0) as http:
        elapsed = await timed_failure(through(http, server, timeout=0.2))
    assert 0.15 <= elapsed < 0.45, elapsed


async def test_with_options_timeout_applies_to_the_callers_client(server: str) -> None:
    async with hx.AsyncClient(timeout=10.0) as http:
        opay = through(http, server)
        elapsed = await timed_failure(opay.with_options(timeout=0.2))
        assert (await opay.close_payment(reference="slow-3", country="EG")).reference == "slow-3"
    assert 0.15 <= elapsed < 0.45, elapsed


async def test_the_retry_deadline_bounds_a_client_without_timeouts(server: str) -> None:
    async with hx.AsyncClient(timeout=None) as http:
        opay = through(http, server, retry=RetryPolicy(attempts=3, timeout=0.25))
        elapsed = await timed_failure(opay)
    assert 0.2 <= elapsed < 0.45, elapsed


async def test_the_callers_timeouts_reach_the_request_unchanged() -> None:
    seen: list[dict[str, float | None]] = []

    def record(request: Any) -> Any:
        seen.append(dict(request.extensions["timeout"]))
        return hx.Response(200, json=success(json.loads(request.content)))

    timeout = hx.Timeout(7.0, connect=9.0, pool=1.5)
    async with hx.AsyncClient(transport=hx.MockTransport(record), timeout=timeout) as http:
        await through(http, "https://opay.test").close_payment(reference="R-1", country="EG")
        given = through(http, "https://opay.test", timeout=12.0)
        await given.close_payment(reference="R-2", country="EG")
    assert seen == [
        {"connect": 9.0, "read": 7.0, "write": 7.0, "pool": 1.5},  # the client's own
        {"connect": 5.0, "read": 12.0, "write": 12.0, "pool": 12.0},  # the SDK's, given
    ]


async def test_a_transport_of_the_caller_gets_the_sdks_default_timeout() -> None:
    seen: list[dict[str, float | None]] = []

    def record(request: Any) -> Any:
        seen.append(dict(request.extensions["timeout"]))
        return hx.Response(200, json=success(json.loads(request.content)))

    async with OPayClient(MERCHANT_ID, SECRET_KEY, transport=hx.MockTransport(record)) as opay:
        await opay.close_payment(reference="R-3", country="EG")
    assert seen == [{"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 30.0}]
