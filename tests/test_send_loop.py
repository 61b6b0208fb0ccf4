"""The send loop's own promises: each attempt bounded by the client's timeout and by what
is left of the call's, outcomes numbered, one debug line per attempt."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import httpx2
import pytest

from opay_async import CloseRequest, OPayClient, OPayTimeoutError, RetryPolicy
from tests.helpers import MERCHANT_ID, SECRET_KEY, hx, success


def answering_after(seconds: float) -> object:
    async def handler(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(seconds)
        response: httpx2.Response = hx.Response(200, json=success(json.loads(request.content)))
        return response

    return handler


def client(handler: object, **options: object) -> OPayClient:
    return OPayClient(
        MERCHANT_ID,
        SECRET_KEY,
        transport=hx.MockTransport(handler),
        **options,  # type: ignore[arg-type]
    )


async def test_with_options_timeout_bounds_each_attempt() -> None:
    async with client(answering_after(3), retry=RetryPolicy.none()) as opay:
        quick = opay.with_options(timeout=0.3)
        started = time.monotonic()
        with pytest.raises(OPayTimeoutError):
            await quick.close_payment(reference="T-1", country="EG")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("total", [0.3, 0.05])
async def test_an_attempt_ends_when_the_calls_time_is_up(total: float) -> None:
    # The client allows 30 s per attempt; the policy 0.3 s (or 0.05 s) in all.
    policy = RetryPolicy(attempts=1, timeout=total)
    async with client(answering_after(30), timeout=30, retry=policy) as opay:
        started = time.monotonic()
        with pytest.raises(OPayTimeoutError):
            await opay.close_payment(reference="T-2", country="EG")
    assert time.monotonic() - started < total + 0.5


async def test_a_single_close_is_outcome_number_zero() -> None:
    async with client(answering_after(0)) as opay:
        outcome = await opay.try_close(CloseRequest(reference="T-3", country="EG"))
    assert outcome.ok
    assert outcome.index == 0


async def test_each_attempt_leaves_one_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="opay_async")
    async with client(answering_after(0.05)) as opay:
        await opay.close_payment(order_no="211018140366538753", country="EG")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("close ")]
    assert len(lines) == 1, lines
    found = re.fullmatch(
        r"close reference=None order_no=211018140366538753 attempt=1 outcome=CLOSE "
        r"elapsed_ms=(\d+\.\d)",
        lines[0],
    )
    assert found, lines[0]
    assert 50 <= float(found.group(1)) < 5_000  # milliseconds, not seconds
