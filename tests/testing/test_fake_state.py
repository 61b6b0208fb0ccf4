"""FakeOPay's payments: storing, looking up, and the state machine of a close."""

from __future__ import annotations

import pytest

from opay_async import (
    Amount,
    OPayValidationError,
    OrderStatus,
    Payment,
    PaymentNotFoundError,
)
from opay_async.testing import ALREADY_PAID_CODE, ALREADY_PAID_MESSAGE, FakeOPay, PaidAnswer
from tests.helpers import NO_RETRY, body_of, raw_post

# -- storing and looking up ----------------------------------------------------------------


def test_add_payment_returns_the_stored_payment() -> None:
    fake = FakeOPay()
    stored = fake.add_payment(
        reference="S-1", order_no="211018140366538753", country="ng", amount=Amount(1500, "NGN")
    )
    assert stored == Payment(
        reference="S-1",
        order_no="211018140366538753",
        country="NG",
        amount=Amount(1500, "NGN"),
        order_status=OrderStatus.INITIAL,
    )
    assert fake.payment(reference="S-1") == stored
    assert fake.payment(order_no="211018140366538753") == stored
    assert fake.payment(reference="S-1", order_no="211018140366538753") == stored
    assert fake.payments == [stored]


def test_order_numbers_are_made_up_like_opays_and_never_collide() -> None:
    fake = FakeOPay()
    taken = fake.add_payment(reference="S-0", order_no="211018140300000001")
    made_up = [fake.add_payment(reference=f"S-{i}").order_no for i in range(1, 4)]
    assert all(o is not None and len(o) == 18 and o.isdigit() for o in made_up)
    assert len({taken.order_no, *made_up}) == 4


def test_made_up_amounts_follow_the_reference_and_the_country() -> None:
    first, second = FakeOPay(), FakeOPay()
    a = first.add_payment(reference="SAME", country="KE").amount
    b = second.add_payment(reference="SAME", country="KE").amount
    assert a == b
    assert a is not None and a.currency == "KES" and 100 <= a.total < 100_000
    elsewhere = first.add_payment(reference="Y", country="ZZ").amount
    assert elsewhere is not None and elsewhere.currency == "USD"


def test_add_payment_and_lookups_validate() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="S-1", order_no="1")
    with pytest.raises(OPayValidationError, match="already exists"):
        fake.add_payment(reference="S-1")
    with pytest.raises(OPayValidationError, match="already exists"):
        fake.add_payment(reference="S-2", order_no="1")
    with pytest.raises(OPayValidationError, match="country"):
        fake.add_payment(reference="S-3", country="EGY")
    with pytest.raises(OPayValidationError, match="reference"):
        fake.add_payment(reference="")
    with pytest.raises(OPayValidationError, match="order_no"):
        fake.add_payment(reference="S-4", order_no="")
    with pytest.raises(OPayValidationError, match="status"):
        fake.add_payment(reference="S-5", status=OrderStatus.UNKNOWN)
    with pytest.raises(LookupError, match="S-9"):
        fake.payment(reference="S-9")
    fake.add_payment(reference="S-6", order_no="6")
    with pytest.raises(LookupError):  # both given, naming different payments
        fake.payment(reference="S-1", order_no="6")
    with pytest.raises(OPayValidationError, match="order_no"):
        fake.payment()
    with pytest.raises(OPayValidationError, match="merchant_id"):
        FakeOPay(merchant_id="")
    with pytest.raises(OPayValidationError, match="secret_key"):
        FakeOPay(secret_key=" ")
    with pytest.raises(OPayValidationError, match="record_limit"):
        FakeOPay(record_limit=-1)
    with pytest.raises(OPayValidationError, match="record_limit"):
        FakeOPay(record_limit=True)
    with pytest.raises(OPayValidationError, match="amount"):
        fake.add_payment(reference="S-7", amount=400)  # type: ignore[arg-type]


async def test_auto_create_can_be_switched_and_reset_starts_afresh() -> None:
    fake = FakeOPay()
    assert (await raw_post(fake, body_of(country="EG", reference="A-1"))).json()["code"] == "02006"
    fake.auto_create = True
    assert (await raw_post(fake, body_of(country="EG", reference="A-1"))).json()["code"] == "00000"
    fake.fail_next(3)
    fake.set_fault_rates(drop=0.5)
    fake.latency = 0.001
    fake.reset()
    assert (fake.payments, fake.requests, fake.request_count, fake.closed_count) == ([], [], 0, 0)
    assert fake.pending_faults == 0
    assert (fake.fault_rates.drop, fake.latency) == (0.5, 0.001)  # settings stay
    assert fake.add_payment(reference="A-1").order_no == "211018140300000001"  # numbered afresh
    fake.reset(settings=True)
    assert (fake.fault_rates.total, fake.latency_range) == (0, (0.0, 0.0))


def test_set_status() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="S-1")
    paid = fake.set_status(OrderStatus.SUCCESS, reference="S-1")
    assert paid.order_status is OrderStatus.SUCCESS
    assert fake.payment(reference="S-1").order_status is OrderStatus.SUCCESS
    with pytest.raises(LookupError):
        fake.set_status(OrderStatus.CLOSE, reference="S-2")
    with pytest.raises(OPayValidationError):
        fake.set_status("CLOSE", reference="S-1")  # type: ignore[arg-type]


# -- the state machine ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "answered", "closes"),
    [
        (OrderStatus.INITIAL, OrderStatus.CLOSE, True),
        (OrderStatus.PENDING, OrderStatus.CLOSE, True),
        (OrderStatus.CLOSE, OrderStatus.CLOSE, False),
        (OrderStatus.FAIL, OrderStatus.FAIL, False),
    ],
)
async def test_closing_answers_opays_documented_shape(
    status: OrderStatus, answered: OrderStatus, closes: bool
) -> None:
    fake = FakeOPay()
    stored = fake.add_payment(
        reference="56215641",
        order_no="211018140366538753",
        country="EG",
        amount=Amount(400, "EGP"),
        status=status,
    )
    answer = await raw_post(fake, body_of(country="EG", reference="56215641"))
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "code": "00000",
        "message": "SUCCESSFUL",
        "data": {
            "reference": "56215641",
            "orderNo": "211018140366538753",
            "country": "EG",
            "amount": {"total": 400, "currency": "EGP"},
            "orderStatus": answered.value,
        },
    }
    assert fake.payment(order_no=stored.order_no).order_status is answered
    assert fake.closed_count == int(closes)


async def test_the_sdk_sees_the_stored_payment_closed() -> None:
    fake = FakeOPay()
    stored = fake.add_payment(reference="S-1", country="NG", amount=Amount(1500, "NGN"))
    async with fake.client() as opay:
        first = await opay.close_payment(order_no=stored.order_no, country="NG")
        again = await opay.close_payment(reference="S-1", country="NG")  # idempotent
    assert first == again == fake.payment(reference="S-1")
    assert first.is_closed
    assert first.amount == Amount(1500, "NGN")
    assert fake.closed_count == 1


async def test_a_failed_payment_is_answered_as_failed_unchanged() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="F-1", status=OrderStatus.FAIL)
    answer = await raw_post(fake, body_of(country="EG", reference="F-1"))
    assert (answer.json()["code"], answer.json()["data"]["orderStatus"]) == ("00000", "FAIL")
    assert fake.payment(reference="F-1").order_status is OrderStatus.FAIL
    assert fake.closed_count == 0


def paid_answer(payment: Payment) -> dict[str, object]:
    assert payment.amount is not None
    return {
        "code": "00000",
        "message": "SUCCESSFUL",
        "data": {
            "reference": payment.reference,
            "orderNo": payment.order_no,
            "country": payment.country,
            "amount": {"total": payment.amount.total, "currency": payment.amount.currency},
            "orderStatus": "SUCCESS",
        },
    }


async def test_closing_a_paid_payment_reports_it_paid_and_unchanged_by_default() -> None:
    fake = FakeOPay()
    assert fake.paid_answer == "status"
    paid = fake.add_payment(reference="PAID-1", status=OrderStatus.SUCCESS)
    for _ in range(2):  # the same answer every time: nothing changes
        answer = await raw_post(fake, body_of(country="EG", reference="PAID-1"))
        assert answer.status_code == 200
        assert answer.json() == paid_answer(paid)
    assert fake.payment(reference="PAID-1") == paid
    assert fake.closed_count == 0
    assert [seen.code for seen in fake.requests] == ["00000", "00000"]


async def test_paid_answer_error_refuses_a_paid_payment_with_02001() -> None:
    fake = FakeOPay(paid_answer="error")
    assert fake.paid_answer == "error"
    fake.add_payment(reference="PAID-1", status=OrderStatus.SUCCESS)
    answer = await raw_post(fake, body_of(country="EG", reference="PAID-1"))
    assert answer.status_code == 200
    assert answer.json() == {"code": ALREADY_PAID_CODE, "message": ALREADY_PAID_MESSAGE}
    assert (ALREADY_PAID_CODE, ALREADY_PAID_MESSAGE) == (
        "02001",
        "payment already paid, use the refund API.",
    )
    assert fake.payment(reference="PAID-1").order_status is OrderStatus.SUCCESS
    assert fake.requests[-1].code == "02001"
    # Only paid payments are refused: the other states answer as usual.
    fake.add_payment(reference="OPEN-1")
    answer = await raw_post(fake, body_of(country="EG", reference="OPEN-1"))
    assert answer.json()["data"]["orderStatus"] == "CLOSE"


def test_paid_answer_must_be_status_or_error() -> None:
    with pytest.raises(OPayValidationError, match="paid_answer"):
        FakeOPay(paid_answer="refund")  # type: ignore[arg-type]


@pytest.mark.parametrize("paid_answer", ["status", "error"])
async def test_a_payment_paid_in_the_meantime_is_not_closed(paid_answer: PaidAnswer) -> None:
    fake = FakeOPay(paid_answer=paid_answer)
    fake.add_payment(reference="S-1")
    fake.set_status(OrderStatus.SUCCESS, reference="S-1")
    answer = (await raw_post(fake, body_of(country="EG", reference="S-1"))).json()
    expected = "00000" if paid_answer == "status" else ALREADY_PAID_CODE
    assert answer["code"] == expected
    assert fake.payment(reference="S-1").order_status is OrderStatus.SUCCESS
    assert fake.closed_count == 0


async def test_unknown_payments_wrong_countries_and_mismatched_ids_are_not_found() -> None:
    fake = FakeOPay()
    s1 = fake.add_payment(reference="S-1", country="EG")
    fake.add_payment(reference="S-3", country="EG")
    async with fake.client(retry=NO_RETRY) as opay:
        for reference, order_no in [
            ("S-2", None),
            (None, "999999999999999999"),
            ("S-3", s1.order_no),  # both given, naming different payments
        ]:
            with pytest.raises(PaymentNotFoundError):
                await opay.close_payment(reference=reference, order_no=order_no, country="EG")
        with pytest.raises(PaymentNotFoundError):
            await opay.close_payment(reference="S-1", country="NG")
        assert fake.closed_count == 0
        both = await opay.close_payment(reference="S-1", order_no=s1.order_no, country="EG")
        assert both.is_closed
    answer = await raw_post(fake, body_of(country="EG", reference="S-2"))
    assert answer.json() == {"code": "02006", "message": "payment not found."}


async def test_auto_create_treats_unknown_payments_as_unpaid() -> None:
    fake = FakeOPay(auto_create=True)
    fake.add_payment(reference="KNOWN", country="EG", status=OrderStatus.SUCCESS)
    async with fake.client(retry=NO_RETRY) as opay:
        by_reference = await opay.close_payment(reference="NEW-1", country="KE")
        by_order_no = await opay.close_payment(order_no="211018140399999999", country="ZZ")
        by_both = await opay.close_payment(
            reference="NEW-2", order_no="211018140388888888", country="EG"
        )
        with pytest.raises(PaymentNotFoundError):  # a known reference, an unknown orderNo
            await opay.close_payment(reference="KNOWN", order_no="211018140377777777", country="EG")
        with pytest.raises(PaymentNotFoundError):  # known payments keep their country
            await opay.close_payment(reference="NEW-1", country="EG")
    known = await raw_post(fake, body_of(country="EG", reference="KNOWN"))  # and their state
    assert known.json()["data"]["orderStatus"] == "SUCCESS"
    assert by_reference.is_closed
    assert by_reference.amount is not None and by_reference.amount.currency == "KES"
    assert by_order_no.reference == "auto-211018140399999999"
    assert by_both.order_no == "211018140388888888"
    assert fake.payment(reference="NEW-2").order_no == "211018140388888888"
    assert len(fake.payments) == 4
    assert fake.closed_count == 3


async def test_auto_created_order_numbers_keep_a_taken_made_up_reference() -> None:
    fake = FakeOPay(auto_create=True)
    fake.add_payment(reference="auto-5", order_no="1")
    answer = await raw_post(fake, body_of(country="EG", orderNo="5"))
    assert answer.json()["data"]["orderNo"] == "5"
    assert fake.payment(reference="auto-5").order_no == "1"  # the stored one is untouched
    assert fake.payment(order_no="5").is_closed


# -- requests seen -------------------------------------------------------------------------


async def test_reset_requests_keeps_payments() -> None:
    fake = FakeOPay(auto_create=True)
    async with fake.client() as opay:
        await opay.close_payment(reference="S-1", country="EG")
        assert (fake.request_count, len(fake.requests)) == (1, 1)
        fake.reset_requests()
        assert (fake.request_count, fake.requests) == (0, [])
        await opay.close_payment(reference="S-1", country="EG")
    assert fake.request_count == 1
    assert fake.closed_count == 1
    assert fake.payment(reference="S-1").is_closed


async def test_record_limit_keeps_the_latest_requests() -> None:
    fake = FakeOPay(auto_create=True, record_limit=10)
    for i in range(50):
        await raw_post(fake, body_of(country="EG", reference=f"S-{i}"))
    assert fake.request_count == 50
    assert 10 <= len(fake.requests) <= 11
    assert fake.requests[-1].reference == "S-49"
    assert [seen.reference for seen in fake.requests[-10:]] == [f"S-{i}" for i in range(40, 50)]
    silent = FakeOPay(auto_create=True, record_limit=0)
    await raw_post(silent, body_of(country="EG", reference="S-1"))
    assert (silent.request_count, silent.requests, silent.closed_count) == (1, [], 1)
    unbounded = FakeOPay(auto_create=True, record_limit=None)
    for i in range(30):
        await raw_post(unbounded, body_of(country="EG", reference=f"S-{i}"))
    assert len(unbounded.requests) == 30
