"""What OPay answers about a payment: ``Payment``, ``Amount`` and ``OrderStatus``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import attrs

from ._errors import OPayValidationError
from ._repr import SafeRepr
from ._validation import number_field

__all__ = ["MAX_TOTAL", "Amount", "OrderStatus", "Payment"]

#: The largest amount in minor units (18 digits; more is not an amount OPay sends).
MAX_TOTAL: Final = 10**18 - 1

_NO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN "
    "ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
    "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
    "MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR "
    "SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD "
    "TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)

#: Digits of a total made from major units at most (far beyond any amount of money).
MAX_TOTAL_DIGITS: Final = 100

#: Each ISO 4217 currency's exponent: the digits after the decimal point of its major
#: unit (``EGP``, ``NGN``: 2, so ``total=78244`` is EGP 782.44; ``XOF``, ``JPY``: 0;
#: ``KWD``, ``BHD``, ``TND``: 3). Codes with no minor unit (gold, SDRs) are not listed.
CURRENCY_EXPONENTS: Final[Mapping[str, int]] = MappingProxyType(
    {
        code: exponent
        for codes, exponent in (
            (_NO_DECIMALS, 0),
            (_TWO_DECIMALS, 2),
            (_THREE_DECIMALS, 3),
            (_FOUR_DECIMALS, 4),
        )
        for code in codes.split()
    }
)


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

    OPay sends ``total`` in the currency's minor units (piastres, kobo). The major
    units a person reads come from [`major_units`][opay_async.Amount.major_units], exact
    (a ``Decimal``, never a float), with the currency's ISO 4217 exponent; ``str()``
    shows them with the currency.

    Attributes:
        total: The amount in minor units, as OPay sends it.
        currency: ISO 4217 code, e.g. ``"EGP"``.

    Examples:
        >>> Amount(78244, "EGP")
        Amount(total=78244, currency='EGP')
        >>> str(Amount(78244, "EGP")), str(Amount(1500, "XOF")), str(Amount(1500, "KWD"))
        ('EGP 782.44', 'XOF 1,500', 'KWD 1.500')
    """

    total: int = attrs.field(validator=number_field(integer=True, at_least=0, at_most=MAX_TOTAL))
    currency: str = attrs.field(validator=_currency)

    @property
    def exponent(self) -> int | None:
        """The currency's ISO 4217 exponent (2 for ``EGP``), ``None`` for a code not in it.

        Examples:
            >>> Amount(1, "NGN").exponent, Amount(1, "JPY").exponent, Amount(1, "XYZ").exponent
            (2, 0, None)
        """
        return CURRENCY_EXPONENTS.get(self.currency.upper())

    def major_units(self) -> Decimal:
        """The amount in major units, exact: ``total`` moved by the currency's exponent.

        A currency whose exponent is not known is refused rather than guessed: a wrong
        guess would misstate the amount a hundredfold.

        Raises:
            OPayValidationError: The currency is not in ISO 4217's list of currencies
                with a minor unit (``total`` is still right, in minor units).

        Examples:
            >>> Amount(78244, "EGP").major_units()
            Decimal('782.44')
            >>> Amount(7, "BHD").major_units(), Amount(7, "XOF").major_units()
            (Decimal('0.007'), Decimal('7'))
        """
        exponent = self.exponent
        if exponent is None:
            raise OPayValidationError(
                "currency",
                f"{self.currency!r} has no known ISO 4217 exponent: total={self.total} is in "
                "its minor units",
            )
        return Decimal((0, Decimal(self.total).as_tuple().digits, -exponent))

    @classmethod
    def from_major_units(cls, value: Decimal | int | str, currency: str) -> Amount:
        """The amount of ``value`` major units of ``currency`` (``"782.44"``, ``"EGP"``).

        Exact: ``value`` is a ``Decimal``, an ``int`` or a decimal string, never a float.

        Raises:
            OPayValidationError: A float or another type, a value that is not a finite
                number of at least 0, one finer than the currency's minor unit
                (``"1.005"`` EGP), one of more than 100 digits in minor units, or a
                currency whose exponent is not known.

        Examples:
            >>> Amount.from_major_units("782.44", "EGP")
            Amount(total=78244, currency='EGP')
        """
        allowed = isinstance(value, Decimal | int | str)  # pyright: ignore[reportUnnecessaryIsInstance]
        if isinstance(value, bool) or not allowed:  # a float would not be exact
            raise OPayValidationError(
                "value", f"must be a Decimal, an int or a str, got {type(value).__name__}"
            )
        exponent = cls(0, currency).exponent
        if exponent is None:
            raise OPayValidationError("currency", f"{currency!r} has no known ISO 4217 exponent")
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except ArithmeticError:
            number = Decimal("NaN")
        sign, digits, places = number.as_tuple()
        if not number.is_finite() or (sign and number != 0) or not isinstance(places, int):
            raise OPayValidationError(
                "value", f"must be a finite number of at least 0, got {str(value)[:40]!r}"
            )
        if not any(digits):
            return cls(0, currency)
        zeros = len(digits) - len(bytes(digits).rstrip(b"\0"))  # 1.500 is 1.5
        digits, places = digits[: len(digits) - zeros], places + zeros
        shift = places + exponent
        if shift < 0:
            raise OPayValidationError(
                "value",
                f"{str(value)[:40]!r} is finer than a minor unit of {currency} "
                f"({exponent} decimals)",
            )
        if len(digits) + shift > MAX_TOTAL_DIGITS:
            raise OPayValidationError(
                "value",
                f"more than {MAX_TOTAL_DIGITS} digits in minor units, got {str(value)[:40]!r}",
            )
        return cls(int("".join(map(str, digits))) * 10**shift, currency)

    def __str__(self) -> str:
        if not all(hasattr(self, field.name) for field in attrs.fields(Amount)):
            return repr(self)  # a traceback's locals, while __init__ has not finished
        if self.exponent is None:
            return f"{self.total} {self.currency} (minor units)"
        return f"{self.currency} {self.major_units():,}"


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
