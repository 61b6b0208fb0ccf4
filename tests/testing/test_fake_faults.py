"""Fault injection: each fault, what it does to payments, and seeded random mixes."""

from __future__ import annotations

import contextlib
import random
import time

import httpx2
import pytest

from opay_async import (
    CLOSE_PATH,
    MerchantNotAvailableError,
    OPayConnectionError,
    OPayHTTPError,
    OPayResponseError,
    OPayTimeoutError,
    OPayValidationError,
    OrderStatus,
    RetryPolicy,
    ServiceUnavailableError,
)
from opay_async.testing import BAD_GATEWAY_PAGE, FakeOPay, FaultKind, instant_retries
from tests.helpers import NO_RETRY, URL, body_of, raw_post, signed_for

BODY = body_of(country="EG", reference="S-1")


def fake_with_payment() -> FakeOPay:
    fake = FakeOPay()
    fake.add_payment(reference="S-1", country="EG")
    return fake


async def test_fail_next_answers_50003_then_recovers() -> None:
    fake = fake_with_payment()
    fake.fail_next(2)
    assert fake.pending_faults == 2
    first = await raw_post(fake, BODY)
    assert first.status_code == 200
    assert first.json() == {"code": "50003", "message": "service not available, please try again."}
    assert fake.payment(reference="S-1").order_status is OrderStatus.INITIAL
    with instant_retries() as clock:
        async with fake.client() as opay:
            assert (await opay.close_payment(reference="S-1", country="EG")).is_closed
    assert [seen.code for seen in fake.requests] == ["50003", "50003", "00000"]
    assert [seen.fault for seen in fake.requests] == [FaultKind.API_ERROR] * 2 + [None]
    assert len(clock.sleeps) == 1
    assert fake.pending_faults == 0


async def test_fail_next_with_another_code() -> None:
    fake = fake_with_payment()
    fake.fail_next(code="02007", message="merchant not available.")
    async with fake.client() as opay:
        with pytest.raises(MerchantNotAvailableError):
            await opay.close_payment(reference="S-1", country="EG")
    assert fake.closed_count == 0


async def test_retries_exhausted_on_service_unavailable() -> None:
    fake = fake_with_payment()
    fake.fail_next(10)
    with instant_retries() as clock:
        async with fake.client(retry=RetryPolicy(attempts=3)) as opay:
            with pytest.raises(ServiceUnavailableError):
                await opay.close_payment(reference="S-1", country="EG")
    assert len(fake.requests) == 3
    assert len(clock.sleeps) == 2
    assert fake.pending_faults == 7
    assert fake.payment(reference="S-1").order_status is OrderStatus.INITIAL


async def test_http_502_with_an_html_page() -> None:
    fake = fake_with_payment()
    fake.fail_next_http()
    answer = await raw_post(fake, BODY)
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "text/html"
    assert answer.text == BAD_GATEWAY_PAGE
    assert "retry-after" not in answer.headers
    seen = fake.requests[-1]
    assert (seen.status, seen.code, seen.fault, seen.verified) == (
        502,
        None,
        FaultKind.HTTP_ERROR,
        True,
    )
    fake.fail_next_http(status=503, body="busy", content_type="text/plain", retry_after=2)
    async with fake.client(retry=NO_RETRY) as opay:
        with pytest.raises(OPayHTTPError) as caught:
            await opay.close_payment(reference="S-1", country="EG")
    assert caught.value.status_code == 503
    assert caught.value.retry_after == 2.0
    assert "busy" in caught.value.message
    fake.fail_next_http()
    with instant_retries() as clock:
        async with fake.client() as opay:
            assert (await opay.close_payment(reference="S-1", country="EG")).is_closed
    assert len(clock.sleeps) == 1


async def test_malformed_answer() -> None:
    fake = fake_with_payment()
    fake.malformed_next()
    answer = await raw_post(fake, BODY)
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()
    fake.malformed_next()
    async with fake.client() as opay:
        with pytest.raises(OPayResponseError):
            await opay.close_payment(reference="S-1", country="EG")
    assert fake.requests[-1].fault is FaultKind.MALFORMED
    assert fake.closed_count == 0


async def test_a_drop_raises_remote_protocol_error_from_the_transport() -> None:
    fake = fake_with_payment()
    fake.drop_next()
    with pytest.raises(httpx2.RemoteProtocolError):
        await raw_post(fake, BODY)
    seen = fake.requests[-1]
    assert (seen.status, seen.code, seen.fault) == (0, None, FaultKind.DROP)
    assert fake.closed_count == 0


async def test_a_timeout_raises_read_timeout_from_the_transport() -> None:
    fake = fake_with_payment()
    fake.timeout_next()
    with pytest.raises(httpx2.ReadTimeout):
        await raw_post(fake, BODY)
    assert fake.requests[-1].fault is FaultKind.TIMEOUT
    assert fake.closed_count == 0


@pytest.mark.parametrize(
    ("schedule", "error"),
    [("drop_next", OPayConnectionError), ("timeout_next", OPayTimeoutError)],
)
async def test_drops_and_timeouts_change_nothing_unless_after_close(
    schedule: str, error: type[Exception]
) -> None:
    fake = FakeOPay(auto_create=True)
    getattr(fake, schedule)()
    async with fake.client(retry=NO_RETRY) as opay:
        with pytest.raises(error):
            await opay.close_payment(reference="S-1", country="EG")
        assert fake.closed_count == 0
        assert not fake.payments
        getattr(fake, schedule)(after_close=True)
        with pytest.raises(error):
            await opay.close_payment(reference="S-2", country="EG")
        assert fake.payment(reference="S-2").is_closed  # closed, but the answer was lost
        assert (await opay.close_payment(reference="S-2", country="EG")).is_closed
    assert fake.closed_count == 1
    assert [seen.status for seen in fake.requests] == [0, 0, 200]


async def test_closed_but_answer_lost_then_retried_succeeds() -> None:
    fake = fake_with_payment()
    fake.drop_next(after_close=True)
    with instant_retries():
        async with fake.client() as opay:
            payment = await opay.close_payment(reference="S-1", country="EG")
    assert payment.is_closed
    assert fake.closed_count == 1
    assert [seen.fault for seen in fake.requests] == [FaultKind.DROP, None]


async def test_an_after_close_fault_still_loses_the_answer_of_a_refused_request() -> None:
    fake = fake_with_payment()
    fake.drop_next(after_close=True)
    body = BODY
    headers = signed_for(fake, body) | {"MerchantId": "1"}
    with pytest.raises(httpx2.RemoteProtocolError):
        await raw_post(fake, body, headers)
    assert not fake.requests[-1].verified
    assert fake.closed_count == 0


async def test_faults_apply_to_unverified_requests_too_and_record_verification() -> None:
    fake = fake_with_payment()
    fake.fail_next_http()
    answer = await raw_post(fake, BODY, {"MerchantId": fake.merchant_id})
    assert answer.status_code == 502  # the proxy answers before OPay checks anything
    assert not fake.requests[-1].verified


async def test_scheduled_faults_apply_in_the_order_asked() -> None:
    fake = fake_with_payment()
    fake.fail_next()
    fake.fail_next_http(status=504)
    fake.malformed_next()
    fake.drop_next()
    fake.timeout_next()
    with instant_retries():
        async with fake.client(retry=RetryPolicy(attempts=6)) as opay:
            # A malformed 200 is not retried: the answer may have been a success.
            with pytest.raises(OPayResponseError):
                await opay.close_payment(reference="S-1", country="EG")
    assert [seen.fault for seen in fake.requests] == [
        FaultKind.API_ERROR,
        FaultKind.HTTP_ERROR,
        FaultKind.MALFORMED,
    ]
    fake.reset_requests()
    with instant_retries():
        async with fake.client(retry=RetryPolicy(attempts=6)) as opay:
            assert (await opay.close_payment(reference="S-1", country="EG")).is_closed
    assert [seen.fault for seen in fake.requests] == [FaultKind.DROP, FaultKind.TIMEOUT, None]


async def test_clear_faults() -> None:
    fake = fake_with_payment()
    fake.fail_next(5)
    fake.set_fault_rates(service_unavailable=1.0)
    fake.clear_faults()
    assert fake.pending_faults == 0
    assert (await raw_post(fake, BODY)).json()["code"] == "00000"


def codes_with_rates(seed: int | None, n: int = 400) -> list[tuple[FaultKind | None, str | None]]:
    fake = FakeOPay(auto_create=True)
    fake.set_fault_rates(
        service_unavailable=0.2, http_502=0.1, malformed=0.05, drop=0.05, timeout=0.05, seed=seed
    )
    headers = {name.lower(): value for name, value in signed_for(fake, BODY).items()}
    replies = [fake.handle("POST", CLOSE_PATH, headers, BODY) for _ in range(n)]
    return [(reply.fault, reply.code) for reply in replies]


def test_fault_rates_are_reproducible_with_a_seed() -> None:
    first = codes_with_rates(7)
    assert first == codes_with_rates(7)
    assert first != codes_with_rates(8)
    assert first != codes_with_rates(None)
    codes = [code for _, code in first]
    faults = [fault for fault, _ in first]
    assert 50 <= codes.count("50003") <= 110  # 20% of 400
    assert 0 < faults.count(FaultKind.DROP) < 40
    assert 0 < faults.count(FaultKind.TIMEOUT) < 40
    assert 200 <= codes.count("00000") <= 300  # 55%


async def test_fault_rates_validate_and_come_after_scheduled_faults() -> None:
    fake = fake_with_payment()
    with pytest.raises(OPayValidationError):
        fake.set_fault_rates(service_unavailable=0.8, drop=0.5)
    with pytest.raises(OPayValidationError):
        fake.set_fault_rates(timeout=-0.1)
    with pytest.raises(OPayValidationError):
        fake.fail_next(-1)
    fake.set_fault_rates(http_502=1.0, seed=1)
    fake.fail_next()
    assert (await raw_post(fake, BODY)).json()["code"] == "50003"
    assert (await raw_post(fake, BODY)).status_code == 502
    fake.set_fault_rates()  # all zero: off
    assert (await raw_post(fake, BODY)).json()["code"] == "00000"


async def test_a_fault_mix_never_changes_a_payment_it_faults() -> None:
    fake = FakeOPay(auto_create=True)
    fake.set_fault_rates(service_unavailable=0.3, http_502=0.1, malformed=0.1, drop=0.1, seed=4)
    for i in range(300):
        body = body_of(country="EG", reference=f"M-{i}")
        with contextlib.suppress(httpx2.RemoteProtocolError):
            await raw_post(fake, body)
    faulted = {seen.reference for seen in fake.requests if seen.fault is not None}
    answered = {seen.reference for seen in fake.requests if seen.fault is None}
    assert faulted and answered
    assert {p.reference for p in fake.payments} == answered
    assert fake.closed_count == len(answered)


async def test_latency_fixed_and_random() -> None:
    fake = fake_with_payment()
    assert fake.latency == 0.0
    fake.latency = 0.01
    assert fake.latency == 0.01
    started = time.perf_counter()
    await raw_post(fake, BODY)
    assert time.perf_counter() - started >= 0.009
    fake.set_latency(0.0, 0.02)
    assert fake.latency == 0.01
    assert fake.latency_range == (0.0, 0.02)
    # The draws come from a generator seeded with 0: these waits, in this order.
    seeded = random.Random(0)
    draws = [seeded.uniform(0.0, 0.02) for _ in range(5)]
    started = time.perf_counter()
    for _ in range(5):
        await raw_post(fake, BODY)
    elapsed = time.perf_counter() - started
    assert sum(draws) * 0.95 <= elapsed < sum(draws) + 1.0
    fake.set_latency(0)
    assert fake.latency == 0.0
    with pytest.raises(OPayValidationError):
        fake.set_latency(0.5, 0.1)
    with pytest.raises(OPayValidationError):
        fake.latency = -1


async def test_latency_past_the_client_timeout_is_a_timeout_and_changes_nothing() -> None:
    fake = fake_with_payment()
    fake.latency = 0.2
    async with fake.client(timeout=0.02, retry=NO_RETRY) as opay:
        with pytest.raises(OPayTimeoutError):
            await opay.close_payment(reference="S-1", country="EG")
    # The client gave up while the request was "in flight": it never reached the fake.
    assert fake.request_count == 0
    assert fake.payment(reference="S-1").order_status is OrderStatus.INITIAL


async def test_wrong_path_is_not_affected_by_fault_rates() -> None:
    fake = FakeOPay()
    fake.set_fault_rates(drop=1.0)
    async with httpx2.AsyncClient(transport=fake.transport) as http:
        assert (await http.post(URL.replace("close", "open"), content=b"{}")).status_code == 404
