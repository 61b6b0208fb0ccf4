"""``CloseOutcome.to_record()`` field by field, against records written out in full.

Each case builds an outcome by hand (no client), so every field's source is known: the
request first, then the error, then the payment, for ``reference`` and ``order_no``.
"""

from __future__ import annotations

import json

import pytest

from opay_async import (
    CloseOutcome,
    CloseRequest,
    OPayConnectionError,
    OPayHTTPError,
    OPayValidationError,
    OrderStatus,
    Payment,
    PaymentAlreadyPaidError,
    PaymentNotClosedError,
    PaymentNotFoundError,
)

CLOSED = Payment(
    reference="R-1", order_no="O-1", country="EG", amount=None, order_status=OrderStatus.CLOSE
)


def record(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "index": 0,
        "reference": None,
        "order_no": None,
        "country": None,
        "ok": False,
        "order_status": None,
        "amount_minor": None,  # these payments carry no amount
        "amount_major": None,
        "currency": None,
        "error_type": None,
        "error_code": None,
        "error": None,
        "retryable": None,
        "attempts": 0,
    }
    base.update(fields)
    return base


def test_a_closed_payment() -> None:
    outcome = CloseOutcome(
        request=CloseRequest(reference="R-1", country="EG"), payment=CLOSED, error=None, attempts=2
    )
    assert outcome.ok is True
    assert outcome.index == 0  # the default
    assert outcome.to_record() == record(
        reference="R-1", order_no="O-1", country="EG", ok=True, order_status="CLOSE", attempts=2
    )


def test_an_http_failure_is_coded_with_its_status() -> None:
    outcome = CloseOutcome(
        request=CloseRequest(order_no="O-9", country="NG"),
        payment=None,
        error=OPayHTTPError(502, "bad gateway", reference="R-9"),
        attempts=4,
        index=7,
    )
    assert outcome.ok is False
    assert outcome.to_record() == record(
        index=7,
        reference="R-9",  # the request named none: the error's
        order_no="O-9",
        country="NG",
        error_type="OPayHTTPError",
        error_code="HTTP 502",
        error="bad gateway",
        retryable=True,
        attempts=4,
    )


def test_an_input_that_failed_validation_has_no_request() -> None:
    outcome = CloseOutcome(
        request=None,
        payment=None,
        error=OPayValidationError("country", "must be two letters", reference="R-3"),
        attempts=0,
        index=3,
    )
    assert outcome.to_record() == record(
        index=3,
        reference="R-3",
        error_type="OPayValidationError",
        error="country: must be two letters",
        retryable=False,
    )


def test_a_connection_failure_has_no_code() -> None:
    outcome = CloseOutcome(
        request=CloseRequest(reference="R-4", country="EG"),
        payment=None,
        error=OPayConnectionError("refused", reference="OTHER", order_no="O-4"),
        attempts=1,
    )
    assert outcome.to_record() == record(
        reference="R-4",  # the request's comes first
        order_no="O-4",  # then the error's
        country="EG",
        error_type="OPayConnectionError",
        error="refused",
        retryable=True,
        attempts=1,
    )


@pytest.mark.parametrize(
    ("status", "error_type", "retryable"),
    [
        (OrderStatus.SUCCESS, PaymentAlreadyPaidError, False),
        (OrderStatus.INITIAL, PaymentNotClosedError, True),
    ],
)
def test_a_payment_not_closed_reports_opays_status(
    status: OrderStatus, error_type: type[PaymentNotClosedError], retryable: bool
) -> None:
    payment = Payment(reference="", order_no="O-5", country="EG", amount=None, order_status=status)
    error = error_type(payment)
    outcome = CloseOutcome(
        request=CloseRequest(order_no="O-5", country="EG"), payment=None, error=error, attempts=1
    )
    got = outcome.to_record()
    assert got == record(
        reference=None,  # an empty reference is no reference
        order_no="O-5",
        country="EG",
        order_status=status.value,
        error_type=error_type.__name__,
        error=error.message,
        retryable=retryable,
        attempts=1,
    )
    assert json.loads(json.dumps(got)) == got


def test_an_api_error_is_coded_with_opays_code() -> None:
    outcome = CloseOutcome(
        request=CloseRequest(reference="R-6", country="EG"),
        payment=None,
        error=PaymentNotFoundError("02006", "payment not found.", reference="R-6"),
        attempts=1,
    )
    assert outcome.to_record()["error_code"] == "02006"
    assert outcome.to_record()["error_type"] == "PaymentNotFoundError"


@pytest.mark.parametrize("both", [True, False])
def test_an_outcome_holds_exactly_one_of_payment_and_error(both: bool) -> None:
    with pytest.raises(OPayValidationError) as caught:
        CloseOutcome(
            request=None,
            payment=CLOSED if both else None,
            error=OPayConnectionError("x") if both else None,
            attempts=0,
        )
    assert caught.value.field == "payment"
    assert str(caught.value) == "payment: a CloseOutcome holds exactly one of payment and error"


def test_a_payment_names_the_reference_the_request_did_not() -> None:
    outcome = CloseOutcome(
        request=CloseRequest(order_no="O-1", country="EG"), payment=CLOSED, error=None, attempts=1
    )
    assert outcome.to_record() == record(
        reference="R-1", order_no="O-1", country="EG", ok=True, order_status="CLOSE", attempts=1
    )
