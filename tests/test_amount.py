"""``Amount`` in major units: exact, with each currency's ISO 4217 exponent, never a float."""

from __future__ import annotations

import decimal
import json
import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opay_async import (
    Amount,
    CloseOutcome,
    CloseRequest,
    OPayValidationError,
    OrderStatus,
    Payment,
    PaymentAlreadyPaidError,
)
from opay_async._payment import CURRENCY_EXPONENTS

KNOWN = sorted(CURRENCY_EXPONENTS)
totals = st.integers(min_value=0, max_value=10**18 - 1)  # Amount.total is bounded there
currencies = st.sampled_from(KNOWN)


@pytest.mark.parametrize(
    ("total", "currency", "major", "shown"),
    [
        (78244, "EGP", "782.44", "EGP 782.44"),
        (78244, "NGN", "782.44", "NGN 782.44"),
        (5, "EGP", "0.05", "EGP 0.05"),
        (0, "EGP", "0.00", "EGP 0.00"),
        (123456789, "EGP", "1234567.89", "EGP 1,234,567.89"),
        (1500, "XOF", "1500", "XOF 1,500"),
        (1500, "XAF", "1500", "XAF 1,500"),
        (1500, "JPY", "1500", "JPY 1,500"),
        (1500, "UGX", "1500", "UGX 1,500"),
        (1500, "KWD", "1.500", "KWD 1.500"),
        (7, "BHD", "0.007", "BHD 0.007"),
        (12345, "TND", "12.345", "TND 12.345"),
        (10000, "CLF", "1.0000", "CLF 1.0000"),
    ],
)
def test_major_units_use_the_currencys_exponent(
    total: int, currency: str, major: str, shown: str
) -> None:
    amount = Amount(total, currency)
    assert isinstance(amount.major_units(), Decimal)
    assert str(amount.major_units()) == major  # exactly these digits, trailing zeros kept
    assert str(amount) == shown
    assert Amount.from_major_units(major, currency) == amount


def test_the_currencies_opay_uses_are_known() -> None:
    for currency in ("EGP", "NGN", "KES", "GHS", "ZAR", "MAD", "PKR", "SAR", "AED", "USD"):
        assert CURRENCY_EXPONENTS[currency] == 2
    for currency in ("XOF", "XAF", "JPY", "KRW", "RWF", "UGX", "GNF", "VND"):
        assert CURRENCY_EXPONENTS[currency] == 0
    for currency in ("KWD", "BHD", "TND", "OMR", "JOD", "IQD", "LYD"):
        assert CURRENCY_EXPONENTS[currency] == 3
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)


def test_an_unknown_currency_is_refused_not_guessed() -> None:
    amount = Amount(78244, "XYZ")
    assert amount.exponent is None
    with pytest.raises(OPayValidationError, match="currency: 'XYZ' has no known ISO 4217"):
        amount.major_units()
    assert str(amount) == "78244 XYZ (minor units)"  # the total, said to be in minor units
    with pytest.raises(OPayValidationError, match="currency: 'XYZ'"):
        Amount.from_major_units("1", "XYZ")


@given(totals, currencies)
def test_major_units_are_exact(total: int, currency: str) -> None:
    amount = Amount(total, currency)
    major = amount.major_units()
    exponent = CURRENCY_EXPONENTS[currency]
    assert major.as_tuple().exponent == -exponent  # the currency's own decimals, always
    with decimal.localcontext(prec=200, traps=[decimal.Inexact, decimal.Rounded]):
        assert major * 10**exponent == total  # nothing rounded away
    assert Amount.from_major_units(major, currency) == amount
    assert Amount.from_major_units(str(major), currency) == amount
    assert str(amount) == f"{currency} {major:,}"


@given(totals, currencies, st.integers(min_value=0, max_value=6))
def test_from_major_units_accepts_any_spelling_of_the_same_number(
    total: int, currency: str, zeros: int
) -> None:
    major = Amount(total, currency).major_units()
    padded = f"{major:f}" + ("." if "." not in f"{major:f}" and zeros else "") + "0" * zeros
    assert Amount.from_major_units(padded, currency).total == total
    assert Amount.from_major_units(f"{major:E}", currency).total == total  # 7.8244E+2


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=0, places=6), currencies)
def test_finer_than_a_minor_unit_is_refused(value: Decimal, currency: str) -> None:
    exponent = CURRENCY_EXPONENTS[currency]
    with decimal.localcontext(prec=200):  # the oracle must not round either
        whole = value.scaleb(exponent)
    if whole == whole.to_integral_value():
        assert Amount.from_major_units(value, currency).total == int(whole)
    else:
        with pytest.raises(OPayValidationError, match="finer than a minor unit"):
            Amount.from_major_units(value, currency)


@pytest.mark.parametrize(
    "value", [1.5, 0.1, True, None, b"1", "-1", "-0.01", "nan", "inf", "-inf", "", "1,5", "x"]
)
def test_values_that_are_not_an_exact_amount_are_refused(value: object) -> None:
    with pytest.raises(OPayValidationError, match="value: "):
        Amount.from_major_units(value, "EGP")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", ["1e999999999999", "1" + "0" * 100_000, "0." + "0" * 100_000 + "1", "9" * 5000]
)
def test_hostile_values_are_refused_at_once(value: str) -> None:
    started = time.perf_counter()
    with pytest.raises(OPayValidationError, match="value: "):
        Amount.from_major_units(value, "EGP")
    assert time.perf_counter() - started < 1.0


def test_negative_zero_is_zero() -> None:
    assert Amount.from_major_units("-0.00", "EGP") == Amount(0, "EGP")


def test_records_keep_the_minor_integer_and_the_exact_major_text() -> None:
    payment = Payment(
        reference="R-1",
        order_no="211",
        country="EG",
        amount=Amount(78244, "EGP"),
        order_status=OrderStatus.CLOSE,
    )
    request = CloseRequest(reference="R-1", country="EG")
    record = CloseOutcome(request=request, payment=payment, error=None, attempts=1).to_record()
    assert (record["amount_minor"], record["amount_major"], record["currency"]) == (
        78244,
        "782.44",
        "EGP",
    )
    line = json.dumps(record)
    assert '"amount_minor": 78244' in line  # a JSON number
    assert '"amount_major": "782.44"' in line  # text: exact, never a float
    paid = payment.__class__(
        reference="R-1",
        order_no="211",
        country="EG",
        amount=Amount(5, "XYZ"),
        order_status=OrderStatus.SUCCESS,
    )
    error = PaymentAlreadyPaidError(paid)
    record = CloseOutcome(request=request, payment=None, error=error, attempts=1).to_record()
    assert (record["amount_minor"], record["amount_major"], record["currency"]) == (
        5,
        None,  # no known exponent: no guess
        "XYZ",
    )


@pytest.mark.parametrize("currency", ["EG", "EGPP", "E1P", "ÉGP", 840, None])
def test_a_currency_is_three_ascii_letters(currency: object) -> None:
    with pytest.raises(OPayValidationError, match="currency: must be an ISO 4217 code"):
        Amount(1, currency)  # type: ignore[arg-type]
