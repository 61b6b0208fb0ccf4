"""Retries: only where safe, bounded in attempts and time, jittered, budgeted, never sleeping."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import tenacity

from opay_async import (
    AuthenticationError,
    InvalidRequestError,
    OPayHTTPError,
    OPayTimeoutError,
    OPayValidationError,
    PaymentNotFoundError,
    RetryBudget,
    RetryPolicy,
    ServiceUnavailableError,
)
from opay_async._clock import VirtualClock
from tests.helpers import ScriptedOPay, hx, success

UNAVAILABLE = {"code": "50003", "message": "service not available, please try again"}


def unavailable(**headers: str) -> hx.Response:
    return hx.Response(200, json=UNAVAILABLE, headers=headers)


async def test_two_50003_then_success_is_three_attempts(opay_instant_retries: VirtualClock) -> None:
    recorder = ScriptedOPay(unavailable(), unavailable())
    async with recorder.client() as opay:
        payment = await opay.close_payment(reference="R-1", country="EG")
    assert payment.is_closed
    assert recorder.sent == 3
    assert len(opay_instant_retries.sleeps) == 2


async def test_persistent_50003_gives_up_after_attempts_with_the_real_error(
    opay_instant_retries: VirtualClock,
) -> None:
    recorder = ScriptedOPay(*[unavailable() for _ in range(10)])
    async with recorder.client(retry=RetryPolicy(attempts=4)) as opay:
        with pytest.raises(ServiceUnavailableError) as caught:
            await opay.close_payment(reference="R-1", country="EG")
    assert not isinstance(caught.value, tenacity.RetryError)
    assert recorder.sent == 4


async def test_the_total_timeout_stops_retrying_early(opay_instant_retries: VirtualClock) -> None:
    recorder = ScriptedOPay(*[unavailable() for _ in range(10)])
    policy = RetryPolicy(attempts=10, timeout=5.0, wait_initial=4.0, wait_max=4.0)
    async with recorder.client(retry=policy) as opay:
        with pytest.raises(ServiceUnavailableError):
            await opay.close_payment(reference="R-1", country="EG")
    assert recorder.sent < 10
    assert sum(opay_instant_retries.sleeps) <= 5.0


async def test_a_wait_that_would_pass_the_deadline_is_not_started(
    opay_instant_retries: VirtualClock,
) -> None:
    recorder = ScriptedOPay(unavailable(**{"Retry-After": "8"}), unavailable())
    policy = RetryPolicy(attempts=5, timeout=3.0, wait_max=8.0)
    async with recorder.client(retry=policy) as opay:
        with pytest.raises(ServiceUnavailableError):
            await opay.close_payment(reference="R-1", country="EG")
    assert recorder.sent == 1
    assert opay_instant_retries.sleeps == []


async def test_retry_after_is_honoured_and_capped(opay_instant_retries: VirtualClock) -> None:
    recorder = ScriptedOPay(
        hx.Response(503, text="busy", headers={"Retry-After": "3"}),
        hx.Response(429, text="slow down", headers={"Retry-After": "120"}),
    )
    async with recorder.client(retry=RetryPolicy(wait_max=8.0)) as opay:
        assert (await opay.close_payment(reference="R-1", country="EG")).is_closed
    assert opay_instant_retries.sleeps == [3.0, 8.0]


async def test_backoff_is_full_jitter_exponential_and_capped(
    opay_instant_retries: VirtualClock,
) -> None:
    policy = RetryPolicy(attempts=8, timeout=1000, wait_initial=0.5, wait_max=4.0)
    for _ in range(20):
        recorder = ScriptedOPay(*[unavailable() for _ in range(7)])
        async with recorder.client(retry=policy, retry_budget=None) as opay:
            await opay.close_payment(reference="R-1", country="EG")
    assert len(opay_instant_retries.sleeps) == 20 * 7
    for number, wait in enumerate(opay_instant_retries.sleeps):
        retry = number % 7 + 1
        assert 0 <= wait <= min(4.0, 0.5 * 2 ** (retry - 1))
    assert len(set(opay_instant_retries.sleeps)) > 100  # jittered, not a fixed schedule


@pytest.mark.parametrize(
    ("status_or_code", "error"),
    [
        ("02000", AuthenticationError),
        ("02001", InvalidRequestError),
        ("02006", PaymentNotFoundError),
        (400, OPayHTTPError),
        (404, OPayHTTPError),
    ],
)
async def test_non_retryable_failures_are_sent_once(
    status_or_code: str | int, error: type[Exception], opay_instant_retries: VirtualClock
) -> None:
    failure = (
        hx.Response(200, json={"code": status_or_code, "message": "no"})
        if isinstance(status_or_code, str)
        else hx.Response(status_or_code, text="no")
    )
    recorder = ScriptedOPay(failure)
    async with recorder.client() as opay:
        with pytest.raises(error):
            await opay.close_payment(reference="R-1", country="EG")
    assert recorder.sent == 1
    assert opay_instant_retries.sleeps == []


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_retryable_http_statuses(status: int, opay_instant_retries: VirtualClock) -> None:
    recorder = ScriptedOPay(hx.Response(status, text="<html>oops</html>"))
    async with recorder.client() as opay:
        assert (await opay.close_payment(reference="R-1", country="EG")).is_closed
    assert recorder.sent == 2


async def test_connection_errors_and_timeouts_are_retried(
    opay_instant_retries: VirtualClock,
) -> None:
    recorder = ScriptedOPay(hx.ConnectError("refused"), hx.ReadTimeout("slow"))
    async with recorder.client() as opay:
        assert (await opay.close_payment(reference="R-1", country="EG")).is_closed
    assert recorder.sent == 3


async def test_attempts_one_means_one_request(opay_instant_retries: VirtualClock) -> None:
    recorder = ScriptedOPay(unavailable())
    async with recorder.client(retry=RetryPolicy.none()) as opay:
        with pytest.raises(ServiceUnavailableError):
            await opay.close_payment(reference="R-1", country="EG")
    assert recorder.sent == 1


async def test_the_whole_attempt_is_bounded_by_timeout() -> None:
    async def slow(request: hx.Request) -> hx.Response:
        await asyncio.sleep(5)
        return hx.Response(200, json=success(json.loads(request.content)))

    recorder = ScriptedOPay(slow)  # type: ignore[arg-type]
    async with recorder.client(timeout=0.05, retry=RetryPolicy.none()) as opay:
        with pytest.raises(OPayTimeoutError):
            await opay.close_payment(reference="R-1", country="EG")


async def test_cancellation_is_never_swallowed_or_retried() -> None:
    started = asyncio.Event()
    calls = 0

    async def hang(request: hx.Request) -> hx.Response:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError

    recorder = ScriptedOPay(hang)  # type: ignore[arg-type]
    async with recorder.client() as opay:
        task = asyncio.create_task(opay.close_payment(reference="R-1", country="EG"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert calls == 1


async def test_the_retry_budget_stops_retry_storms_and_refills(
    opay_instant_retries: VirtualClock,
) -> None:
    recorder = ScriptedOPay(*[unavailable() for _ in range(4)])
    budget = RetryBudget(capacity=10, retry_cost=5, success_refund=1)
    async with recorder.client(retry_budget=budget) as opay:
        with pytest.raises(ServiceUnavailableError):
            await opay.close_payment(reference="R-1", country="EG")
        assert recorder.sent == 3  # the first try and two paid retries
        assert opay.retry_tokens == 0
        with pytest.raises(ServiceUnavailableError):
            await opay.close_payment(reference="R-2", country="EG")
        assert recorder.sent == 4  # sent once: nothing left to pay for a retry
        for _ in range(5):
            await opay.close_payment(reference="R-3", country="EG")
        assert opay.retry_tokens == 5  # five successes earned one retry
        recorder.answers.append(unavailable())
        assert (await opay.close_payment(reference="R-4", country="EG")).is_closed
        assert recorder.sent == 4 + 5 + 2
        assert opay.retry_tokens == 1


async def test_successes_refund_up_to_capacity(opay_instant_retries: VirtualClock) -> None:
    recorder = ScriptedOPay(unavailable())
    async with recorder.client(retry_budget=RetryBudget(capacity=10, retry_cost=5)) as opay:
        await opay.close_payment(reference="R-1", country="EG")
        assert opay.retry_tokens == 6  # 10 - 5 for the retry + 1 for the success
        for _ in range(10):
            await opay.close_payment(reference="R-1", country="EG")
        assert opay.retry_tokens == 10


async def test_no_budget_means_only_the_policy_limits(opay_instant_retries: VirtualClock) -> None:
    recorder = ScriptedOPay(*[unavailable() for _ in range(30)])
    async with recorder.client(retry_budget=None, retry=RetryPolicy(attempts=3)) as opay:
        for _ in range(10):
            with pytest.raises(ServiceUnavailableError):
                await opay.close_payment(reference="R-1", country="EG")
        assert opay.retry_tokens is None
    assert recorder.sent == 30


async def test_a_warning_is_logged_before_each_retry(
    opay_instant_retries: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = ScriptedOPay(unavailable())
    with caplog.at_level(logging.WARNING, logger="opay_async"):
        async with recorder.client() as opay:
            await opay.close_payment(reference="R-1", country="EG")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "50003" in warnings[0].getMessage()
    assert "R-1" in warnings[0].getMessage()


@pytest.mark.parametrize(
    "options",
    [
        {"attempts": 0},
        {"attempts": 1.5},
        {"attempts": True},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"wait_initial": -1},
        {"wait_max": "8"},
    ],
)
def test_bad_policies_are_rejected(options: dict[str, object]) -> None:
    with pytest.raises(OPayValidationError) as caught:
        RetryPolicy(**options)  # type: ignore[arg-type]
    assert caught.value.field == next(iter(options))


@pytest.mark.parametrize("options", [{"capacity": -1}, {"retry_cost": 0}, {"success_refund": 1.5}])
def test_bad_budgets_are_rejected(options: dict[str, object]) -> None:
    with pytest.raises(OPayValidationError, match=next(iter(options))):
        RetryBudget(**options)  # type: ignore[arg-type]
