"""Argument checks shared by every module; each raises OPayValidationError naming the field.

Five checks cover the package: `number` (an int or float in a range, never a
bool), `country_code` (ISO 3166-1 alpha-2), `text` (a non-blank string),
`identifier` (a reference or order number: text of at most 128 characters) and `flag`
(``True`` or ``False``, nothing that merely reads as one).
The ``*_field`` forms wrap them as attrs validators and converters.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, Final, Literal, overload

from ._errors import OPayValidationError

__all__ = [
    "MAX_CONNECTIONS",
    "MAX_COUNT",
    "MAX_IDENTIFIER",
    "MAX_SECONDS",
    "country_code",
    "country_field",
    "flag",
    "number",
    "number_field",
    "optional_identifier_field",
    "text",
]

#: The longest time any setting may name, in seconds (a day): a timeout, a wait.
MAX_SECONDS: Final = 86_400.0
#: The most connections (or requests in flight) any setting may ask for.
MAX_CONNECTIONS: Final = 10_000
#: The largest count of retries, tokens or refunds a setting may name.
MAX_COUNT: Final = 1_000_000_000
#: The longest reference or order number a request may name, in characters. OPay's order
#: numbers have 18 digits and merchants' references are order ids (a UUID has 36
#: characters): longer is a mistake, refused before anything is sent.
MAX_IDENTIFIER: Final = 128


@overload
def number(
    field: str,
    value: object,
    *,
    integer: Literal[True],
    at_least: float | None = ...,
    above: float | None = ...,
    at_most: float | None = ...,
) -> int: ...


@overload
def number(
    field: str,
    value: object,
    *,
    integer: Literal[False] = ...,
    at_least: float | None = ...,
    above: float | None = ...,
    at_most: float | None = ...,
) -> float: ...


def number(
    field: str,
    value: object,
    *,
    integer: bool = False,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
) -> float:
    """Return ``value`` if it is a finite number in range (an ``int`` when ``integer``).

    ``bool`` is refused although Python counts it as an ``int``: ``True`` seconds or
    ``False`` attempts are always a mistake. Any other value (an int of 400 digits, an
    infinite or NaN float, a string) raises ``OPayValidationError``, never
    ``OverflowError``: an int is compared exactly, and where a float is wanted an int
    too large to become one is refused. The value is quoted short in the message.

    Examples:
        >>> number("timeout", 2.5, above=0)
        2.5
        >>> number("attempts", True, integer=True, at_least=1)
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: attempts: must be an int >= 1, got True
        >>> number("timeout", 10**400, above=0, at_most=3600)
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: timeout: must be a number > 0 and <= 3600, \
got an int of 401 digits
    """
    return _check(field, value, integer=integer, at_least=at_least, above=above, at_most=at_most)


def _check(
    field: str,
    value: object,
    *,
    integer: bool,
    at_least: float | None,
    above: float | None,
    at_most: float | None,
) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        in_range = (
            _finite(value, integer=integer)
            and (isinstance(value, int) or not integer)
            and (at_least is None or value >= at_least)
            and (above is None or value > above)
            and (at_most is None or value <= at_most)
        )
        if in_range:
            return value
    raise OPayValidationError(
        field, f"must be {_describe(integer, at_least, above, at_most)}, got {_quoted(value)}"
    )


def _finite(value: int | float, *, integer: bool) -> bool:
    """Whether ``value`` is finite: an int always is, unless a float is wanted of it."""
    if isinstance(value, int):
        # math.isfinite(10**400) raises OverflowError, and so would float(10**400).
        return integer or -sys.float_info.max <= value <= sys.float_info.max
    return math.isfinite(value)


#: The longest quotation of a bad value in a message.
_QUOTE_LIMIT = 40


def _quoted(value: object) -> str:
    """``repr(value)``, short: an int of many digits is described, anything long cut."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        # repr() of an int past 4300 digits raises ValueError; the digits say nothing here.
        digits = len(str(abs(value))) if value.bit_length() < 14_000 else None
        sign = "a negative int" if value < 0 else "an int"
        return f"{sign} of {digits} digits" if digits else f"{sign} of over 4000 digits"
    try:
        shown = repr(value)
    except Exception:  # noqa: BLE001 (a hostile __repr__ must not replace the real error)
        shown = f"a {type(value).__name__}"
    if len(shown) > _QUOTE_LIMIT:
        shown = shown[: _QUOTE_LIMIT - 3] + "..."
    return shown


def _describe(
    integer: bool, at_least: float | None, above: float | None, at_most: float | None
) -> str:
    bounds = [
        f">= {at_least:g}" if at_least is not None else "",
        f"> {above:g}" if above is not None else "",
        f"<= {at_most:g}" if at_most is not None else "",
    ]
    kind = "an int" if integer else "a number"
    return " ".join([kind, " and ".join(bound for bound in bounds if bound)]).strip()


def number_field(
    *,
    integer: bool = False,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
) -> Callable[[Any, Any, Any], None]:
    """`number` as an attrs validator (the field's name is the attribute's)."""

    def check(_instance: object, attribute: Any, value: object) -> None:
        _check(
            attribute.alias,
            value,
            integer=integer,
            at_least=at_least,
            above=above,
            at_most=at_most,
        )

    return check


def country_code(value: object, *, field: str = "country", upper_only: bool = False) -> str:
    """Return ``value`` as an upper-case ISO 3166-1 alpha-2 code, or raise.

    Lower case is accepted and upper-cased unless ``upper_only`` (what arrives on the
    wire must already be upper case).

    Examples:
        >>> country_code("eg")
        'EG'
        >>> country_code("Egypt")
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: country: must be two ASCII letters \
(ISO 3166-1 alpha-2, e.g. 'EG'), got 'Egypt'
    """
    if (
        isinstance(value, str)
        and len(value) == 2
        and value.isascii()
        and value.isalpha()
        and (value.isupper() or not upper_only)
    ):
        return value.upper()
    case = "upper-case " if upper_only else ""
    raise OPayValidationError(
        field, f"must be two {case}ASCII letters (ISO 3166-1 alpha-2, e.g. 'EG'), got {value!r}"
    )


def country_field(value: object) -> str:
    """`country_code` as an attrs converter."""
    return country_code(value)


def text(field: str, value: object) -> str:
    """Return ``value`` if it is printable text that is not blank, else raise.

    Examples:
        >>> text("reference", "  ")
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: reference: must not be empty
    """
    if not isinstance(value, str):
        raise OPayValidationError(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise OPayValidationError(field, "must not be empty")
    if not value.isprintable():
        # A tab, a newline, an escape sequence or a lone surrogate: never an order number,
        # and never sent (it would reach OPay's logs, and ours, as it is).
        raise OPayValidationError(
            field, f"must be printable text (no control characters), got {value!r}"
        )
    return value


def identifier(field: str, value: object) -> str:
    """Return ``value`` if it can name a payment: `text`, at most 128 characters.

    Examples:
        >>> identifier("reference", "R" * 129)
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: reference: must be at most 128 characters, \
got 129
    """
    text(field, value)
    assert isinstance(value, str)
    if len(value) > MAX_IDENTIFIER:
        raise OPayValidationError(
            field, f"must be at most {MAX_IDENTIFIER} characters, got {len(value)}"
        )
    return value


def optional_identifier_field(_instance: object, attribute: Any, value: object) -> None:
    """`identifier` as an attrs validator that lets ``None`` through."""
    if value is not None:
        identifier(attribute.alias, value)


def flag(field: str, value: object) -> bool:
    """Return ``value`` if it is ``True`` or ``False``, else raise (``"no"`` is not false).

    Examples:
        >>> flag("stop_on_fatal", "no")
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: stop_on_fatal: must be True or False, got 'no'
    """
    if not isinstance(value, bool):
        raise OPayValidationError(field, f"must be True or False, got {_quoted(value)}")
    return value
