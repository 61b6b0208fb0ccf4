"""``CloseOutcome``: what became of one close, success or failure, never raised."""

from __future__ import annotations

from typing import TypedDict

import attrs

from ._errors import OPayAPIError, OPayError, OPayHTTPError, OPayValidationError
from ._not_closed import PaymentNotClosedError
from ._payment import Payment
from ._repr import SafeRepr
from ._request import CloseRequest

__all__ = ["CloseOutcome", "CloseRecord"]


class CloseRecord(TypedDict):
    """A [`CloseOutcome`][opay_async.CloseOutcome] as plain JSON-ready data (``to_record()``).

    Attributes:
        index: The item's position in the input (0-based).
        reference: The merchant's order number, when known.
        order_no: OPay's order number, when known.
        country: The payment's country, when the item named a valid one.
        ok: Whether the payment is closed. Only then may the order be marked cancelled.
        order_status: The state OPay reported (``"CLOSE"``, or e.g. ``"SUCCESS"`` for a
            paid payment), when it reported one.
        amount_minor: The payment's amount in minor units (an integer: ``78244``), as
            OPay reported it, when it did.
        amount_major: The same amount in major units, as exact decimal text
            (``"782.44"``; read it with ``decimal.Decimal``), when the currency's ISO 4217
            exponent is known.
        currency: The amount's ISO 4217 code (``"EGP"``), when OPay reported an amount.
        error_type: The error's class name, e.g. ``"PaymentAlreadyPaidError"``.
        error_code: OPay's code for a business error, ``"HTTP <status>"`` for an HTTP
            failure, else ``None``.
        error: The error's message.
        retryable: Whether closing again later may succeed (``None`` when ``ok``).
        attempts: Requests sent for the item.
    """

    index: int
    reference: str | None
    order_no: str | None
    country: str | None
    ok: bool
    order_status: str | None
    amount_minor: int | None
    amount_major: str | None
    currency: str | None
    error_type: str | None
    error_code: str | None
    error: str | None
    retryable: bool | None
    attempts: int


@attrs.frozen(kw_only=True, repr=False)
class CloseOutcome(SafeRepr):
    """The result of closing one payment in bulk: a payment or an error, never both.

    Attributes:
        request: What was asked. For an input that failed validation, the fields
            that could be read are kept and ``error`` says what was wrong.
        payment: The payment as OPay reported it, on success.
        error: The final error, on failure.
        attempts: Requests sent for this item (0 when it never left the client).
        index: The item's position in the input (0-based).

    Examples:
        >>> from opay_async import CloseRequest
        >>> outcome = CloseOutcome(request=CloseRequest(reference="A1", country="EG"),
        ...                        payment=None, error=None, attempts=0)
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: payment: a CloseOutcome holds exactly one of \
payment and error
    """

    request: CloseRequest | None
    payment: Payment | None
    error: OPayError | None
    attempts: int
    index: int = 0

    def __attrs_post_init__(self) -> None:
        if (self.payment is None) == (self.error is None):
            raise OPayValidationError(
                "payment", "a CloseOutcome holds exactly one of payment and error"
            )

    @property
    def ok(self) -> bool:
        """Whether the payment is closed (``CLOSE``); a paid one never is."""
        return self.error is None

    def to_record(self) -> CloseRecord:
        """This outcome as JSON-ready data, to store or send (e.g. from a task queue).

        Examples:
            >>> from opay_async import CloseRequest, PaymentNotFoundError
            >>> outcome = CloseOutcome(
            ...     request=CloseRequest(reference="SHOP-1", country="EG"),
            ...     payment=None,
            ...     error=PaymentNotFoundError("02006", "payment not found."),
            ...     attempts=1,
            ... )
            >>> record = outcome.to_record()
            >>> record["ok"], record["error_type"], record["error_code"], record["reference"]
            (False, 'PaymentNotFoundError', '02006', 'SHOP-1')
        """
        request, payment, error = self.request, self.payment, self.error
        if isinstance(error, PaymentNotClosedError):
            payment = error.payment  # what OPay reported, e.g. SUCCESS for a paid one
        code: str | None = None
        if isinstance(error, OPayAPIError):
            code = error.code
        elif isinstance(error, OPayHTTPError):
            code = f"HTTP {error.status_code}"
        amount = payment.amount if payment else None
        return {
            "index": self.index,
            "reference": _first(request, error, payment, field="reference"),
            "order_no": _first(request, error, payment, field="order_no"),
            "country": request.country if request else None,
            "ok": error is None,
            "order_status": payment.raw_order_status if payment else None,
            "amount_minor": amount.total if amount else None,
            "amount_major": str(amount.major_units())
            if amount and amount.exponent is not None
            else None,
            "currency": amount.currency if amount else None,
            "error_type": type(error).__name__ if error else None,
            "error_code": code,
            "error": error.message if error else None,
            "retryable": error.retryable if error else None,
            "attempts": self.attempts,
        }


def _first(*sources: object, field: str) -> str | None:
    """The first value of ``field`` the request, the error or the payment knows."""
    for source in sources:
        value = getattr(source, field, None)
        if isinstance(value, str) and value:
            return value
    return None
