"""``CloseOutcome``: what became of one close, success or failure, never raised."""

from __future__ import annotations

import attrs

from ._errors import OPayError, OPayValidationError
from ._payment import Payment
from ._repr import SafeRepr
from ._request import CloseRequest

__all__ = ["CloseOutcome"]


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

    Example:
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
        """Whether the payment was closed (OPay answered ``00000``)."""
        return self.error is None
