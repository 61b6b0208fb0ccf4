"""The simulator's ledger: the payments it knows and the state machine of a close."""

from __future__ import annotations

import itertools
import zlib
from typing import Final

import attrs

from .._errors import OPayValidationError
from .._payment import Amount, OrderStatus, Payment
from .._validation import country_code, text

__all__ = ["Ledger", "checked_status"]

_CURRENCIES: Final = {"EG": "EGP", "NG": "NGN", "KE": "KES", "GH": "GHS", "ZA": "ZAR"}
_CLOSABLE: Final = frozenset({OrderStatus.INITIAL, OrderStatus.PENDING})


def checked_status(value: object) -> OrderStatus:
    """``value`` if it is a stored payment's possible state, else raise."""
    if not isinstance(value, OrderStatus) or value is OrderStatus.UNKNOWN:
        raise OPayValidationError("status", f"must be an OrderStatus, got {value!r}")
    return value


@attrs.define(slots=True)
class _Record:
    reference: str
    order_no: str
    country: str
    amount: Amount
    status: OrderStatus

    def snapshot(self) -> Payment:
        return Payment(
            reference=self.reference,
            order_no=self.order_no,
            country=self.country,
            amount=self.amount,
            order_status=self.status,
        )


class Ledger:
    """Payments by reference and by OPay order number, and what a close does to them.

    A close moves ``INITIAL`` and ``PENDING`` to ``CLOSE``; every other state is left as
    it is (``CLOSE`` again, ``FAIL``, ``SUCCESS``) and reported.
    """

    def __init__(self) -> None:
        self._by_reference: dict[str, _Record] = {}
        self._by_order_no: dict[str, _Record] = {}
        self._order_numbers = itertools.count(1)
        self.closed_count = 0

    def __len__(self) -> int:
        return len(self._by_order_no)

    def clear(self) -> None:
        """Forget every payment; order numbers are made up from the start again."""
        self._by_reference.clear()
        self._by_order_no.clear()
        self._order_numbers = itertools.count(1)
        self.closed_count = 0

    def add(
        self,
        *,
        reference: object,
        order_no: object = None,
        country: object = "EG",
        amount: object = None,
        status: object = OrderStatus.INITIAL,
    ) -> Payment:
        """Store a payment after checking every argument; returns it."""
        country = country_code(country)
        reference = text("reference", reference)
        if reference in self._by_reference:
            raise OPayValidationError("reference", f"{reference!r} already exists")
        if order_no is not None:
            order_no = text("order_no", order_no)
            if order_no in self._by_order_no:
                raise OPayValidationError("order_no", f"{order_no!r} already exists")
        if amount is not None and not isinstance(amount, Amount):
            raise OPayValidationError("amount", f"must be an Amount, got {amount!r}")
        status = checked_status(status)
        return self._store(reference, order_no, country, amount, status).snapshot()

    def get(self, reference: str | None = None, order_no: str | None = None) -> Payment:
        """The payment named, as it is now.

        Raises:
            LookupError: No such payment (or the two name different payments).
        """
        return self._lookup(reference, order_no).snapshot()

    def set_status(
        self, status: object, reference: str | None = None, order_no: str | None = None
    ) -> Payment:
        """Change a stored payment's state; returns it."""
        status = checked_status(status)
        record = self._lookup(reference, order_no)
        record.status = status
        return record.snapshot()

    def all(self) -> list[Payment]:
        """Every stored payment, in the order they were stored."""
        return [record.snapshot() for record in self._by_order_no.values()]

    def close(
        self,
        reference: str | None,
        order_no: str | None,
        country: str,
        create_as: OrderStatus | None = None,
    ) -> Payment | None:
        """Close the payment named, as OPay would; ``None`` when it is not found.

        Args:
            reference: The request's ``reference``.
            order_no: The request's ``orderNo``.
            country: The request's ``country``: a payment of another country is not found.
            create_as: Create a payment none of whose identifiers is known, in this
                state, before closing it (``None``: do not create).

        Returns:
            The payment after the close, or ``None``.
        """
        record = self._find(reference, order_no)
        if record is None and create_as is not None and self._unknown(reference, order_no):
            record = self._store(
                reference or f"auto-{order_no}", order_no, country, None, create_as
            )
        if record is None or record.country != country:
            return None
        if record.status in _CLOSABLE:
            record.status = OrderStatus.CLOSE
            self.closed_count += 1
        return record.snapshot()

    def _store(
        self,
        reference: str,
        order_no: str | None,
        country: str,
        amount: Amount | None,
        status: OrderStatus,
    ) -> _Record:
        record = _Record(
            reference=reference,
            order_no=order_no or self._new_order_no(),
            country=country,
            amount=amount or _made_up_amount(reference, country),
            status=status,
        )
        self._by_reference.setdefault(reference, record)
        self._by_order_no[record.order_no] = record
        return record

    def _new_order_no(self) -> str:
        """An unused 18-digit order number shaped like OPay's (``yyMMddHHmm`` + 8 digits)."""
        while True:
            order_no = f"2110181403{next(self._order_numbers):08d}"
            if order_no not in self._by_order_no:
                return order_no

    def _lookup(self, reference: str | None, order_no: str | None) -> _Record:
        if reference is None and order_no is None:
            raise OPayValidationError("reference", "give a reference or an order_no")
        record = self._find(reference, order_no)
        if record is None:
            raise LookupError(f"no payment with reference={reference!r} order_no={order_no!r}")
        return record

    def _find(self, reference: str | None, order_no: str | None) -> _Record | None:
        by_reference = self._by_reference.get(reference) if reference else None
        by_order_no = self._by_order_no.get(order_no) if order_no else None
        if reference and order_no:
            return by_reference if by_reference is by_order_no else None
        return by_reference or by_order_no

    def _unknown(self, reference: str | None, order_no: str | None) -> bool:
        """Whether neither identifier names a stored payment (a close may create one)."""
        return (reference is None or reference not in self._by_reference) and (
            order_no is None or order_no not in self._by_order_no
        )


def _made_up_amount(reference: str, country: str) -> Amount:
    total = 100 + zlib.crc32(reference.encode("utf-8", "surrogatepass")) % 99_900
    return Amount(total, _CURRENCIES.get(country, "USD"))
