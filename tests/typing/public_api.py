"""The public API used the way the docs use it: mypy --strict and pyright strict check this file.

It is type-checked (``nox -s typing``), never run: users' type checkers see these
annotations, so they are part of the API. ``assert_type`` pins what each call returns.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import assert_type, cast

import httpx2
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from opay_async import (
    Amount,
    CloseOutcome,
    CloseRequest,
    OPayAPIError,
    OPayClient,
    OPayError,
    OPayValidationError,
    OrderStatus,
    Payment,
    PaymentNotFoundError,
    RetryBudget,
    RetryPolicy,
    RunStoppedError,
    SecretKey,
    ShardedTransport,
)
from opay_async.testing import FakeOPay, instant_retries


async def close_one() -> None:
    async with OPayClient(
        "256612345678901",
        SecretKey("OPAYPRV_example"),
        environment="production",
        timeout=10.0,
        retry=RetryPolicy(attempts=3, timeout=20.0),
        retry_budget=RetryBudget(capacity=100),
        backend="aiohttp",
    ) as opay:
        payment = await opay.close_payment(reference="65316571001", country="EG")
        assert_type(payment, Payment)
        assert_type(payment.order_status, OrderStatus)
        assert_type(payment.amount, Amount | None)
        assert_type(payment.is_closed, bool)
        try:
            await opay.close_payment(order_no="211018140366538753", country="NG")
        except PaymentNotFoundError as error:
            assert_type(error.code, str)
            assert_type(error.status_code, int)
        except OPayAPIError as error:
            assert_type(error.retryable, bool)
        except OPayError as error:
            assert_type(error.reference, str | None)


async def close_many_from_a_cursor(rows: AsyncIterator[dict[str, object]]) -> int:
    closed = 0
    async with OPayClient.from_env(retry=RetryPolicy.none()) as opay:
        outcomes = await opay.close_many(["SHOP-1", "SHOP-2"], country="EG", concurrency=20)
        assert_type(outcomes, list[CloseOutcome])
        stream = opay.iter_close_many(rows, country="NG", rate_limit=50)
        async with contextlib.aclosing(stream) as outcomes_as_they_come:
            async for outcome in outcomes_as_they_come:
                assert_type(outcome, CloseOutcome)
                closed += outcome.ok
        single = await opay.try_close(CloseRequest(reference="SHOP-3", country="EG"))
        assert_type(single.error, OPayError | None)
        everything = await opay.close_many(["SHOP-4"], country="EG", stop_on_fatal=False)
        for outcome in everything:
            if isinstance(outcome.error, RunStoppedError):
                assert_type(outcome.error.stopped_by, OPayError)
            elif outcome.error is not None:
                assert_type(outcome.error.fatal, bool)
        kept_going = opay.iter_close_many(rows, country="NG", stop_on_fatal=True)
        await kept_going.aclose()
    return closed


async def test_with_the_simulator() -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(2)
    with instant_retries() as clock:
        async with fake.client() as opay:
            await opay.close_payment(reference="SHOP-9", country="EG")
    assert_type(clock.sleeps, list[float])
    async with (
        httpx2.AsyncClient(transport=fake.transport) as http,
        OPayClient(fake.merchant_id, fake.secret_key, http_client=http) as opay,
    ):
        assert_type(opay.url_for("EG"), str)


def a_legacy_client(legacy: object) -> OPayClient:
    """The one line a strict user writes for a legacy ``httpx.AsyncClient`` (docs/httpx2.md)."""
    return OPayClient(
        "256612345678901", "OPAYPRV_x", http_client=cast("httpx2.AsyncClient", legacy)
    )


def values() -> None:
    request = CloseRequest(reference="A1", country="eg")
    assert_type(request.body(), bytes)
    assert_type(ShardedTransport(max_connections=50).shard_count, int)
    assert_type(ShardedTransport(max_connections=50).max_connections, int)
    try:
        CloseRequest(country="EG")
    except OPayValidationError as error:
        assert_type(error.field, str)


def observed() -> OPayClient:
    # docs/observability.md: the providers of OpenTelemetry's SDK, as instrumentations take them.
    return OPayClient.from_env(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
