"""A close that OPay answered, but whose payment is not closed: what each state means.

OPay does not document what closing a payment in each state answers. It may answer an
error code, or ``00000`` with the payment's state: ``SUCCESS`` for a payment the
customer paid in the meantime. A job that marks orders cancelled from what the SDK
reports must never see a paid payment as closed, so only ``CLOSE`` is a success:

| state after the close | the caller gets | retried |
| --- | --- | --- |
| ``CLOSE`` | the ``Payment`` | - |
| ``SUCCESS`` (paid) | ``PaymentAlreadyPaidError``: refund it instead | no |
| ``INITIAL``, ``PENDING`` | ``PaymentNotClosedError``: not closed yet | yes |
| ``FAIL`` | ``PaymentNotClosedError``: failed, nothing to close or refund | no |
| a state OPay adds later | ``PaymentNotClosedError`` naming it | no |

``INITIAL`` and ``PENDING`` are retried because closing is idempotent: a close that
OPay has not applied yet either shows ``CLOSE`` on the next attempt or the same state.
"""

from __future__ import annotations

from typing import Final

from ._errors import OPayError
from ._payment import OrderStatus, Payment

__all__ = ["PaymentAlreadyPaidError", "PaymentNotClosedError", "closed_payment"]

_STILL_OPEN: Final = frozenset({OrderStatus.INITIAL, OrderStatus.PENDING})


class PaymentNotClosedError(OPayError):
    """OPay answered the close, but the payment is not closed.

    ``retryable`` is true for ``INITIAL`` and ``PENDING`` (the close may not have been
    applied yet), false otherwise.

    Attributes:
        payment: The payment as OPay reported it, state included.
        order_status: Its state (``payment.order_status``).
    """

    def __init__(self, payment: Payment, message: str | None = None) -> None:
        status = payment.raw_order_status
        super().__init__(
            message or _explanation(payment.order_status, status),
            reference=payment.reference,
            order_no=payment.order_no,
            retryable=payment.order_status in _STILL_OPEN,
        )
        self.payment = payment
        self.order_status = payment.order_status


class PaymentAlreadyPaidError(PaymentNotClosedError):
    """The customer paid the payment (``SUCCESS``): it cannot be closed; refund it instead.

    Never retried: retrying cannot unpay a payment.

    Examples:
        >>> from opay_async import OrderStatus, Payment
        >>> paid = Payment(reference="SHOP-7", order_no="211", country="EG", amount=None,
        ...                order_status=OrderStatus.SUCCESS)
        >>> error = PaymentAlreadyPaidError(paid)
        >>> error.retryable, error.payment.order_status
        (False, <OrderStatus.SUCCESS: 'SUCCESS'>)
        >>> print(error)  # doctest: +ELLIPSIS
        the payment was paid (SUCCESS): it cannot be closed; refund it ... (reference='SHOP-7', ...)
    """

    def __init__(self, payment: Payment) -> None:
        super().__init__(
            payment,
            "the payment was paid (SUCCESS): it cannot be closed; refund it with OPay's "
            "Refund API instead",
        )


def _explanation(status: OrderStatus, raw: str) -> str:
    if status in _STILL_OPEN:
        return f"OPay answered the close but the payment is still {raw}: not closed yet"
    if status is OrderStatus.FAIL:
        return (
            "the payment failed (FAIL): it was not paid and cannot be, so there is "
            "nothing to close or refund"
        )
    return f"OPay answered the close with the state {raw!r}, which is not CLOSE"


def closed_payment(payment: Payment) -> Payment:
    """Return ``payment`` if it is closed; else raise what its state means (see above).

    Raises:
        PaymentAlreadyPaidError: It was paid.
        PaymentNotClosedError: Any other state than ``CLOSE``.
    """
    if payment.order_status is OrderStatus.CLOSE:
        return payment
    if payment.order_status is OrderStatus.SUCCESS:
        raise PaymentAlreadyPaidError(payment)
    raise PaymentNotClosedError(payment)
