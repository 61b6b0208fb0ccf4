"""'ok' means closed: a payment OPay reports in any other state is never a success.

The OPay double here is independent of the SDK's simulator: a MockTransport handler
that answers each reference with the state its name says.
"""

from __future__ import annotations

import json
import pickle

import pytest

from opay_async import (
    CloseRequest,
    InvalidRequestError,
    OPayClient,
    OrderStatus,
    PaymentAlreadyPaidError,
    PaymentNotClosedError,
    PaymentNotFoundError,
    RetryPolicy,
)
from opay_async._clock import VirtualClock
from opay_async.testing import FakeOPay
from tests.helpers import MERCHANT_ID, SECRET_KEY, hx

STATES = {"CLOSED": "CLOSE", "PAID": "SUCCESS", "PENDING": "PENDING", "NEW": "INITIAL"}


def independent_opay(request: hx.Request) -> hx.Response:
    """Answer a close with the state the reference's prefix names (OPay's success shape)."""
    body = json.loads(request.content)
    prefix = body["reference"].split("-")[0]
    if prefix == "MISSING":
        return hx.Response(200, json={"code": "02006", "message": "payment not found."})
    data = {
        "reference": body["reference"],
        "orderNo": "211018140366538753",
        "country": body["country"],
        "amount": {"total": 400, "currency": "EGP"},
        "orderStatus": STATES.get(prefix, prefix),
    }
    return hx.Response(200, json={"code": "00000", "message": "SUCCESSFUL", "data": data})


def client(**options: object) -> OPayClient:
    return OPayClient(
        MERCHANT_ID,
        SECRET_KEY,
        transport=hx.MockTransport(independent_opay),
        **options,  # type: ignore[arg-type]
    )


async def test_ok_is_true_only_for_a_closed_payment(opay_instant_retries: VirtualClock) -> None:
    references = ["CLOSED-1", "PAID-1", "PENDING-1", "CLOSED-2", "MISSING-1", "FAIL-1"]
    async with client(retry=RetryPolicy(attempts=3)) as opay:
        outcomes = await opay.close_many(references, country="EG")
    assert [outcome.ok for outcome in outcomes] == [True, False, False, True, False, False]
    kinds = [type(outcome.error).__name__ if outcome.error else "ok" for outcome in outcomes]
    assert kinds == [
        "ok",
        "PaymentAlreadyPaidError",
        "PaymentNotClosedError",
        "ok",
        "PaymentNotFoundError",
        "PaymentNotClosedError",
    ]
    # Paid and failed payments are final at once; a pending one is tried again.
    assert [outcome.attempts for outcome in outcomes] == [1, 1, 3, 1, 1, 1]
    print(f"\nclosed/paid/pending/closed/missing/failed -> ok {[o.ok for o in outcomes]}")


async def test_a_paid_payment_raises_with_the_payment_and_says_to_refund() -> None:
    async with client() as opay:
        with pytest.raises(PaymentAlreadyPaidError) as caught:
            await opay.close_payment(reference="PAID-7", country="EG")
    error = caught.value
    assert isinstance(error, PaymentNotClosedError)
    assert not error.retryable
    assert error.payment.order_status is OrderStatus.SUCCESS
    assert error.payment.amount is not None
    assert error.reference == "PAID-7"
    assert "refund" in str(error)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.payment) == (PaymentAlreadyPaidError, error.payment)


@pytest.mark.parametrize(
    ("state", "retryable", "says"),
    [
        ("INITIAL", True, "still INITIAL"),
        ("PENDING", True, "still PENDING"),
        ("FAIL", False, "nothing to close or refund"),
        ("REVERSED", False, "'REVERSED', which is not CLOSE"),
    ],
)
async def test_every_other_state_is_not_closed(
    state: str, retryable: bool, says: str, opay_instant_retries: VirtualClock
) -> None:
    prefix = {"INITIAL": "NEW"}.get(state, state)
    async with client(retry=RetryPolicy(attempts=2)) as opay:
        outcome = await opay.try_close(CloseRequest(reference=f"{prefix}-1", country="EG"))
    assert not outcome.ok
    assert isinstance(outcome.error, PaymentNotClosedError)
    assert not isinstance(outcome.error, PaymentAlreadyPaidError)
    assert outcome.error.retryable is retryable
    assert says in str(outcome.error)
    assert outcome.attempts == (2 if retryable else 1)


async def test_records_are_json_and_say_what_to_do() -> None:
    async with client() as opay:
        outcomes = await opay.close_many(["CLOSED-1", "PAID-1", "MISSING-1"], country="EG")
    closed, paid, missing = (outcome.to_record() for outcome in outcomes)
    assert json.loads(json.dumps([closed, paid, missing])) == [closed, paid, missing]
    assert closed == {
        "index": 0,
        "reference": "CLOSED-1",
        "order_no": "211018140366538753",
        "country": "EG",
        "ok": True,
        "order_status": "CLOSE",
        "amount_minor": 400,  # OPay's total, in piastres
        "amount_major": "4.00",  # EGP 4.00, exact text
        "currency": "EGP",
        "error_type": None,
        "error_code": None,
        "error": None,
        "retryable": None,
        "attempts": 1,
    }
    assert (paid["ok"], paid["order_status"], paid["error_type"], paid["retryable"]) == (
        False,
        "SUCCESS",  # what OPay said: a paid payment, to refund
        "PaymentAlreadyPaidError",
        False,
    )
    assert (paid["amount_minor"], paid["currency"]) == (400, "EGP")  # the amount to refund
    assert (missing["error_code"], missing["order_status"]) == ("02006", None)
    assert paid["error"] == (
        "the payment was paid (SUCCESS): it cannot be closed; refund it with OPay's Refund API "
        "instead"
    )
    assert isinstance(outcomes[2].error, PaymentNotFoundError)
    # Against an expectation written out, not against another call of the same code.
    assert missing == {
        "index": 2,
        "reference": "MISSING-1",
        "order_no": None,
        "country": "EG",
        "ok": False,
        "order_status": None,
        "amount_minor": None,
        "amount_major": None,
        "currency": None,
        "error_type": "PaymentNotFoundError",
        "error_code": "02006",
        "error": "payment not found.",
        "retryable": False,
        "attempts": 1,
    }


@pytest.mark.parametrize(
    ("paid_answer", "error_type"),
    [("status", PaymentAlreadyPaidError), ("error", InvalidRequestError)],
    ids=["00000 with SUCCESS", "02001"],
)
async def test_a_paid_payment_is_never_ok_whichever_way_opay_answers(
    paid_answer: str, error_type: type[Exception]
) -> None:
    fake = FakeOPay(paid_answer=paid_answer)  # type: ignore[arg-type]
    fake.add_payment(reference="OPEN-1", country="EG")
    fake.add_payment(reference="PAID-1", country="EG", status=OrderStatus.SUCCESS)
    async with fake.client() as opay:
        outcomes = await opay.close_many(["OPEN-1", "PAID-1", "GONE-1"], country="EG")
    assert [outcome.ok for outcome in outcomes] == [True, False, False]
    assert isinstance(outcomes[1].error, error_type)
    assert not outcomes[1].error.retryable
    assert fake.payment(reference="PAID-1").order_status is OrderStatus.SUCCESS  # untouched
    assert fake.payment(reference="OPEN-1").order_status is OrderStatus.CLOSE
