"""What OPay answers about a payment: ``Payment``, ``Amount`` and ``OrderStatus``."""

from __future__ import annotations

import enum
from typing import Any, Final

import attrs

from ._errors import OPayValidationError
from ._repr import SafeRepr
from ._validation import number_field

__all__ = ["MAX_TOTAL", "Amount", "OrderStatus", "Payment"]

#: The largest amount in minor units (18 digits; more is not an amount OPay sends).
MAX_TOTAL: Final = 10**18 - 1


class OrderStatus(enum.Enum):
    """The state of an OPay payment.

    ``UNKNOWN`` stands for a state OPay may add later;
    [`Payment.raw_order_status`][opay_async.Payment]
    keeps the exact text in that case.
    """

    INITIAL = "INITIAL"
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    CLOSE = "CLOSE"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: str) -> OrderStatus:
        """The member named ``value``, or ``UNKNOWN`` for a state this SDK does not know.

        Examples:
            >>> OrderStatus.parse("CLOSE"), OrderStatus.parse("REVERSED")
            (<OrderStatus.CLOSE: 'CLOSE'>, <OrderStatus.UNKNOWN: 'UNKNOWN'>)
        """
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


def _currency(_instance: object, _attribute: object, value: Any) -> None:
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()):
        raise OPayValidationError(
            "currency", f"must be an ISO 4217 code of three letters, got {value!r}"
        )


@attrs.frozen(repr=False)
class Amount(SafeRepr):
    """An amount of money in minor units (``total=400, currency="EGP"`` is EGP 4.00).

    Examples:
        >>> Amount(400, "EGP")
        Amount(total=400, currency='EGP')
    """

    total: int = attrs.field(validator=number_field(integer=True, at_least=0, at_most=MAX_TOTAL))
    currency: str = attrs.field(validator=_currency)


@attrs.frozen(kw_only=True, repr=False)
class Payment(SafeRepr):
    """A payment as OPay reported it after a close.

    Attributes:
        reference: The merchant's order number.
        order_no: OPay's order number.
        country: ISO 3166-1 alpha-2 code.
        amount: The amount, when OPay sent a well-formed one.
        order_status: The state; ``OrderStatus.CLOSE`` once closed.
        raw_order_status: The state exactly as OPay wrote it.
    """

    reference: str | None
    order_no: str | None
    country: str
    amount: Amount | None
    order_status: OrderStatus
    raw_order_status: str = attrs.field(
        repr=False,
        default=attrs.Factory(lambda self: self.order_status.value, takes_self=True),
    )

    @property
    def is_closed(self) -> bool:
        """Whether the payment is closed (``order_status is OrderStatus.CLOSE``)."""
        return self.order_status is OrderStatus.CLOSE
