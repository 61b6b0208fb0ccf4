"""FakeOPay itself: it must check requests and keep state exactly as OPay would."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from opay_async import (
    CLOSE_PATH,
    Amount,
    AuthenticationError,
    InvalidRequestError,
    OPayClient,
    OPayConnectionError,
    OPayHTTPError,
    OPayResponseError,
    OPayTimeoutError,
    OPayValidationError,
    OrderStatus,
    PaymentNotFoundError,
    RetryPolicy,
    ServiceUnavailableError,
)
from opay_async.testing import (
    ALREADY_PAID_CODE,
    DEFAULT_MERCHANT_ID,
    FakeOPay,
    FaultKind,
    VirtualClock,
    instant_retries,
)

URL = "https://sandboxapi.opaycheckout.com" + CLOSE_PATH
NO_RETRY = RetryPolicy(attempts=1)


def signed(body: bytes, key: str, merchant: str = DEFAULT_MERCHANT_ID) -> dict[str, str]:
    signature = hmac.new(key.encode(), body, hashlib.sha512).hexdigest()
    return {
        "Authorization": f"Bearer {signature}",
        "MerchantId": merchant,
        "Content-Type": "application/json",
    }


async def raw_post(fake: FakeOPay, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=fake.transport) as http:
        return await http.post(URL, content=body, headers=headers)


# -- signature, both ways -------------------------------------------------------------


async def test_a_correctly_signed_request_is_accepted_and_recorded() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="S-1", country="EG")
    body = b'{"country":"EG","reference":"S-1"}'
    answer = await raw_post(fake, body, signed(body, fake.secret_key))
    assert answer.json()["code"] == "00000"
    seen = fake.requests[-1]
    assert seen.verified
    assert seen.body == body
    assert seen.json == {"country": "EG", "reference": "S-1"}
    assert (seen.method, seen.path, seen.merchant_id, seen.code) == (
        "POST",
        CLOSE_PATH,
        DEFAULT_MERCHANT_ID,
        "00000",
    )


@pytest.mark.parametrize(
    "tamper",
    ["wrong key", "tampered body", "no authorization", "no bearer", "wrong merchant"],
)
async def test_a_bad_signature_or_merchant_answers_02000_and_changes_nothing(
    tamper: str,
) -> None:
    fake = FakeOPay()
    fake.add_payment(reference="S-1", country="EG")
    body = b'{"country":"EG","reference":"S-1"}'
    headers = signed(body, fake.secret_key)
    if tamper == "wrong key":
        headers = signed(body, "OPAYPRV_someone_else")
    elif tamper == "tampered body":
        body = b'{"country":"EG","reference":"S-1" }'
    elif tamper == "no authorization":
        del headers["Authorization"]
    elif tamper == "no bearer":
        headers["Authorization"] = headers["Authorization"].removeprefix("Bearer ")
    else:
        headers["MerchantId"] = "999"
    answer = await raw_post(fake, body, headers)
    assert answer.json() == {"code": "02000", "message": "authentication failed."}
    assert not fake.requests[-1].verified
    assert fake.payment(reference="S-1").order_status is OrderStatus.INITIAL


async def test_the_sdk_signs_what_the_simulator_verifies_for_awkward_references() -> None:
    fake = FakeOPay(auto_create=True)
    references = ["a/b", 'quo"te', "back\\slash", "çà-ünï", "emoji-🙂", "x" * 500]
    async with fake.client() as opay:
        for reference in references:
            payment = await opay.close_payment(reference=reference, country="EG")
            assert payment.reference == reference
    assert all(seen.verified for seen in fake.requests)


async def test_a_client_with_the_wrong_key_gets_authentication_error() -> None:
    fake = FakeOPay(auto_create=True)
    async with OPayClient(fake.merchant_id, "OPAYPRV_wrong", transport=fake.transport) as opay:
        with pytest.raises(AuthenticationError):
            await opay.close_payment(reference="S-1", country="EG")
    assert fake.closed_count == 0


# -- body validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"reference":"S-1"}',
        b'{"country":"eg","reference":"S-1"}',
        b'{"country":"EGY","reference":"S-1"}',
        b'{"country":"EG"}',
        b'{"country":"EG","reference":""}',
        b'{"country":"EG","reference":12}',
    ],
)
async def test_an_invalid_body_answers_02001(body: bytes) -> None:
    fake = FakeOPay(auto_create=True)
    answer = await raw_post(fake, body, signed(body, fake.secret_key))
    assert answer.json()["code"] == "02001"
    assert fake.closed_count == 0


async def test_wrong_path_and_method_are_http_errors() -> None:
    fake = FakeOPay()
    async with httpx.AsyncClient(transport=fake.transport) as http:
        assert (await http.post("https://x.test/elsewhere", content=b"{}")).status_code == 404
        assert (await http.get(URL)).status_code == 405
    assert [seen.status for seen in fake.requests] == [404, 405]


# -- state machine --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "answered"),
    [
        (OrderStatus.INITIAL, OrderStatus.CLOSE),
        (OrderStatus.PENDING, OrderStatus.CLOSE),
        (OrderStatus.CLOSE, OrderStatus.CLOSE),
        (OrderStatus.FAIL, OrderStatus.FAIL),
    ],
)
async def test_closing_moves_unpaid_payments_to_close(
    status: OrderStatus, answered: OrderStatus
) -> None:
    fake = FakeOPay()
    stored = fake.add_payment(
        reference="S-1", country="NG", amount=Amount(1500, "NGN"), status=status
    )
    async with fake.client() as opay:
        payment = await opay.close_payment(order_no=stored.order_no, country="NG")
    assert payment.order_status is answered
    assert payment == fake.payment(reference="S-1")
    assert payment.amount == Amount(1500, "NGN")
    assert fake.closed_count == (1 if status in (OrderStatus.INITIAL, OrderStatus.PENDING) else 0)


async def test_closing_a_paid_payment_is_refused() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="PAID-1", status=OrderStatus.SUCCESS)
    async with fake.client() as opay:
        with pytest.raises(InvalidRequestError, match="refund") as caught:
            await opay.close_payment(reference="PAID-1", country="EG")
    assert caught.value.code == ALREADY_PAID_CODE
    assert fake.payment(reference="PAID-1").order_status is OrderStatus.SUCCESS


async def test_unknown_payments_and_wrong_countries_are_not_found() -> None:
    fake = FakeOPay()
    stored = fake.add_payment(reference="S-1", country="EG")
    async with fake.client(retry=NO_RETRY) as opay:
        with pytest.raises(PaymentNotFoundError):
            await opay.close_payment(reference="S-2", country="EG")
        with pytest.raises(PaymentNotFoundError):
            await opay.close_payment(reference="S-1", country="NG")
        fake.add_payment(reference="S-3", country="EG")
        with pytest.raises(PaymentNotFoundError):  # both given, naming different payments
            await opay.close_payment(reference="S-3", order_no=stored.order_no, country="EG")
        both = await opay.close_payment(reference="S-1", order_no=stored.order_no, country="EG")
        assert both.is_closed


async def test_auto_create_treats_unknown_payments_as_unpaid() -> None:
    fake = FakeOPay(auto_create=True)
    async with fake.client() as opay:
        by_reference = await opay.close_payment(reference="NEW-1", country="KE")
        by_order_no = await opay.close_payment(order_no="211018140399999999", country="ZZ")
    assert by_reference.is_closed
    assert by_reference.amount is not None
    assert by_reference.amount.currency == "KES"
    assert by_order_no.reference == "auto-211018140399999999"
    assert len(fake.payments) == 2


def test_add_payment_validates() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="S-1", order_no="1")
    with pytest.raises(OPayValidationError, match="already exists"):
        fake.add_payment(reference="S-1")
    with pytest.raises(OPayValidationError, match="already exists"):
        fake.add_payment(reference="S-2", order_no="1")
    with pytest.raises(OPayValidationError, match="country"):
        fake.add_payment(reference="S-3", country="EGY")
    with pytest.raises(OPayValidationError, match="empty"):
        fake.add_payment(reference="")
    with pytest.raises(LookupError, match="S-9"):
        fake.payment(reference="S-9")
    with pytest.raises(OPayValidationError):
        FakeOPay(merchant_id="")


def test_repr_hides_the_key() -> None:
    fake = FakeOPay(secret_key="OPAYPRV_do_not_show")
    assert "OPAYPRV_do_not_show" not in repr(fake)
    assert "OPAYPRV_do_not_show" not in repr(fake.client())


# -- faults ---------------------------------------------------------------------------


async def test_fail_next_answers_a_business_code_then_recovers(
    opay_instant_retries: VirtualClock,
) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(2)
    async with fake.client() as opay:
        assert (await opay.close_payment(reference="S-1", country="EG")).is_closed
    assert [seen.code for seen in fake.requests] == ["50003", "50003", "00000"]
    assert [seen.fault for seen in fake.requests] == [FaultKind.API_ERROR] * 2 + [None]
    assert len(opay_instant_retries.sleeps) == 2


async def test_a_custom_business_fault() -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(code="02007", message="merchant not available.")
    async with fake.client() as opay:
        with pytest.raises(Exception, match="02007"):
            await opay.close_payment(reference="S-1", country="EG")
    assert fake.closed_count == 0


async def test_http_502_with_html_and_retry_after() -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next_http(status=503, retry_after=2)
    async with fake.client(retry=NO_RETRY) as opay:
        with pytest.raises(OPayHTTPError) as caught:
            await opay.close_payment(reference="S-1", country="EG")
    assert caught.value.status_code == 503
    assert caught.value.retry_after == 2.0
    assert "Bad Gateway" in caught.value.message
    fake.fail_next_http()
    with instant_retries() as clock:
        async with fake.client() as opay:
            assert (await opay.close_payment(reference="S-1", country="EG")).is_closed
    assert len(clock.sleeps) == 1


async def test_malformed_answer() -> None:
    fake = FakeOPay(auto_create=True)
    fake.malformed_next()
    async with fake.client() as opay:
        with pytest.raises(OPayResponseError):
            await opay.close_payment(reference="S-1", country="EG")
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
        getattr(fake, schedule)(after_close=True)
        with pytest.raises(error):
            await opay.close_payment(reference="S-2", country="EG")
        assert fake.payment(reference="S-2").is_closed  # closed, but the answer was lost
        assert (await opay.close_payment(reference="S-2", country="EG")).is_closed
    assert fake.requests[0].status == 0


async def test_fault_rates_are_reproducible_with_a_seed() -> None:
    def codes(seed: int) -> list[str | None]:
        fake = FakeOPay(auto_create=True)
        fake.set_fault_rates(service_unavailable=0.3, http_502=0.1, malformed=0.1, seed=seed)
        body = b'{"country":"EG","reference":"S-1"}'
        headers = {k.lower(): v for k, v in signed(body, fake.secret_key).items()}
        return [fake.handle("POST", CLOSE_PATH, headers, body).code for _ in range(200)]

    first = codes(7)
    assert first == codes(7)
    assert first != codes(8)
    assert 30 <= first.count("50003") <= 90
    fake = FakeOPay()
    with pytest.raises(OPayValidationError):
        fake.set_fault_rates(service_unavailable=0.8, drop=0.5)
    with pytest.raises(OPayValidationError):
        fake.set_fault_rates(timeout=-0.1)
    with pytest.raises(OPayValidationError):
        fake.fail_next(-1)


async def test_clear_faults() -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(5)
    fake.set_fault_rates(service_unavailable=1.0)
    fake.clear_faults()
    async with fake.client() as opay:
        assert (await opay.close_payment(reference="S-1", country="EG")).is_closed


async def test_latency_fixed_and_random() -> None:
    fake = FakeOPay(auto_create=True)
    fake.latency = 0.01
    assert fake.latency == 0.01
    fake.set_latency(0.0, 0.02)
    assert fake.latency == 0.01
    async with fake.client() as opay:
        assert (await opay.close_payment(reference="S-1", country="EG")).is_closed
    with pytest.raises(OPayValidationError):
        fake.set_latency(0.5, 0.1)


async def test_latency_makes_the_client_time_out() -> None:
    fake = FakeOPay(auto_create=True)
    fake.latency = 0.5
    async with fake.client(timeout=0.02, retry=NO_RETRY) as opay:
        with pytest.raises(OPayTimeoutError):
            await opay.close_payment(reference="S-1", country="EG")


# -- the three ways to reach it -------------------------------------------------------


async def test_through_the_asgi_app() -> None:
    fake = FakeOPay(auto_create=True)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as http,
        OPayClient(fake.merchant_id, fake.secret_key, http_client=http) as opay,
    ):
        assert (await opay.close_payment(reference="ASGI-1", country="EG")).is_closed
        answer = await http.get("https://x.test" + CLOSE_PATH)
        assert answer.status_code == 405
    assert fake.requests[0].verified


async def test_asgi_lifespan_is_supported() -> None:
    fake = FakeOPay()
    sent: list[dict[str, str]] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, str]:
        return next(messages)

    async def send(message: dict[str, str]) -> None:
        sent.append(message)

    await fake.app({"type": "lifespan"}, receive, send)  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    await fake.app({"type": "websocket"}, receive, send)  # type: ignore[arg-type]


async def test_served_over_real_http_with_faults() -> None:
    fake = FakeOPay(auto_create=True)
    async with fake.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with OPayClient(
            fake.merchant_id, fake.secret_key, base_url=base_url, timeout=0.3, retry=NO_RETRY
        ) as opay:
            assert (await opay.close_payment(reference="HTTP-1", country="NG")).is_closed
            fake.drop_next()
            with pytest.raises(OPayConnectionError):
                await opay.close_payment(reference="HTTP-2", country="NG")
            fake.timeout_next()
            with pytest.raises(OPayTimeoutError):
                await opay.close_payment(reference="HTTP-3", country="NG")
            fake.fail_next_http(status=502)
            with pytest.raises(OPayHTTPError):
                await opay.close_payment(reference="HTTP-4", country="NG")
            assert (await opay.close_payment(reference="HTTP-2", country="NG")).is_closed
    assert fake.closed_count == 2


async def test_serving_on_a_taken_port_fails_clearly() -> None:
    fake = FakeOPay()
    async with fake.serve() as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with pytest.raises(OPayValidationError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with FakeOPay().serve(port=port):
                pass


async def test_retries_through_the_simulator_under_a_fault_mix(
    opay_instant_retries: VirtualClock,
) -> None:
    fake = FakeOPay(auto_create=True)
    fake.set_fault_rates(service_unavailable=0.2, http_502=0.05, drop=0.05, seed=3)
    async with fake.client() as opay:
        outcomes = await opay.close_many([f"MIX-{i}" for i in range(300)], country="EG")
    closed = {o.request.reference for o in outcomes if o.ok and o.request}
    assert all(fake.payment(reference=reference).is_closed for reference in closed)
    assert len(closed) >= 290
    for outcome in outcomes:
        if not outcome.ok:
            assert isinstance(
                outcome.error, ServiceUnavailableError | OPayHTTPError | OPayConnectionError
            )


def test_the_pytest_plugin_gives_a_fresh_fake(opay_fake: FakeOPay) -> None:
    assert opay_fake.merchant_id == DEFAULT_MERCHANT_ID
    assert not opay_fake.payments
    assert json.loads(json.dumps(opay_fake.merchant_id)) == DEFAULT_MERCHANT_ID
