"""Reading OPay's answer: a ``Payment``, or the right ``OPayError``, whatever the bytes.

Everything here treats the answer as hostile: it may come from OPay, from a proxy's
error page, or from something that wants to break the caller. Whatever arrives, the
result is a ``Payment`` or an ``OPayError`` whose message quotes at most a
short, redacted, printable snippet.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Callable
from typing import Any, Final

from ._errors import (
    RETRYABLE_HTTP_STATUSES,
    OPayHTTPError,
    OPayResponseError,
    api_error_for,
    redact,
)
from ._not_closed import closed_payment
from ._payment import MAX_TOTAL, Amount, OrderStatus, Payment
from ._request import CloseRequest
from ._validation import MAX_IDENTIFIER

__all__ = ["SUCCESS_CODES", "parse_close_answer", "parse_retry_after"]

#: The ``code`` of a successful answer: the ``"00000"`` of OPay's samples, and the
#: ``"00"`` its error-handling text calls "status code 00".
SUCCESS_CODES: Final = frozenset({"00000", "00"})
#: Longest snippet of an answer quoted in an error message.
SNIPPET: Final = 200
#: Longest text field kept from an answer (references, order numbers, states).
_FIELD: Final = MAX_IDENTIFIER
#: Longest part of an answered value an error message quotes.
_SHOWN: Final = 40
#: Longest wait a ``Retry-After`` may ask for (longer ones are capped by the policy anyway).
_RETRY_AFTER_MAX: Final = 86_400.0
_CODE: Final = re.compile(r"[0-9A-Za-z_.-]{1,16}")
_DIGITS: Final = re.compile(r"[0-9]{1,18}")


def _printable(text: str, limit: int) -> str:
    """``text`` made safe to show in a terminal or a log line.

    Printable characters only (no control, format or bidi characters, no lone
    surrogates, nothing unassigned), whitespace collapsed, at most ``limit`` long.
    """
    if len(text) <= limit and text.isprintable() and " ".join(text.split()) == text:
        return text  # already clean (an order status, most messages): nothing to do
    text = "".join(c if c.isprintable() else " " for c in text[: limit * 4])
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _snippet(content: bytes) -> str:
    text = _printable(content[: SNIPPET * 4].decode("utf-8", "replace"), SNIPPET)
    return redact(text) if text else "(empty body)"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date).

    Anything else (negative, not finite, unparseable) counts as absent, and a wait
    longer than a day is cut to a day.

    Examples:
        >>> parse_retry_after("3"), parse_retry_after("soon"), parse_retry_after("nan")
        (3.0, None, None)
    """
    if not value or len(value) > 64:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), _RETRY_AFTER_MAX)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


class _RepeatedKey(Exception):
    """An object of the answer names ``key`` twice (not a ``ValueError``: not "not JSON")."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One JSON object, refused when it names a key twice (``json`` would keep the last)."""
    fields = dict(pairs)
    if len(fields) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # pragma: no branch (a repeated key is there: it ends the loop)
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return fields


def _load(content: bytes) -> dict[str, Any]:
    """``content`` as a JSON object; ``{}`` when it is not one (or is hostile: too deep).

    Raises:
        _RepeatedKey: An object, at any depth, names a key twice: the answer says two
            things, and reading either one would be a guess.
    """
    try:
        answer: object = json.loads(
            content, parse_constant=_reject_constant, object_pairs_hook=_unique
        )
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return {}
    return answer if isinstance(answer, dict) else {}  # pyright: ignore[reportUnknownVariableType]


def _text(value: object) -> str | None:
    """A short identifier from the answer: a string or an integer, printable, bounded."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**_FIELD:
        return str(value)
    if isinstance(value, str) and value and len(value) <= _FIELD and value.isprintable():
        return value
    return None


def _code(value: object) -> str | None:
    """OPay's ``code``; a JSON number is read as the 5-digit code it stands for."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**16:
        return f"{value:05d}"
    if isinstance(value, str) and _CODE.fullmatch(value):
        return value
    return None


def _amount(value: object) -> Amount | None:
    """The amount when it is well-formed, else ``None`` (it is information, not the outcome)."""
    if not isinstance(value, dict):
        return None
    fields: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    total: object = fields.get("total")
    currency: object = fields.get("currency")
    if isinstance(total, str) and _DIGITS.fullmatch(total):  # ASCII digits only: not "²"
        total = int(total)
    if not (isinstance(total, int) and not isinstance(total, bool) and 0 <= total <= MAX_TOTAL):
        return None
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii()):
        return None
    return Amount(total, currency.upper()) if currency.isalpha() else None


def _shown(value: object) -> str:
    """A short, printable picture of a value from the answer, for an error message."""
    if isinstance(value, str):
        text = redact(value[: _SHOWN * 4])  # a key or signature goes whole, before the cut
        # repr escapes control, format and bidi characters: the message stays one clean line
        return repr(text[:_SHOWN]) + ("..." if len(text) > _SHOWN else "")
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        digits = str(value) if abs(value) < 10**_SHOWN else f"{str(value)[:_SHOWN]}..."
        return redact(f"the number {digits}")
    return "a list" if isinstance(value, list) else "an object"


def _is(asked: str, answered: object) -> bool:
    """Whether the answer's value names exactly what was asked (a number: by its digits)."""
    if isinstance(answered, str):
        return answered == asked
    return (
        isinstance(answered, int)
        and not isinstance(answered, bool)
        and 0 <= answered < 10**MAX_IDENTIFIER
        and str(answered) == asked
    )


def _about_another_payment(request: CloseRequest, data: dict[str, Any]) -> str | None:
    """What in ``data`` names another payment than ``request``'s, if anything does.

    Each identifier the request named (and the country, always named) must be answered
    exactly, or not at all: a value of another form (a list, ``null``, a string with a
    newline, a number for a country) is not this payment's. An order number or a
    reference the request did not name is information, not identity.
    """
    asked = (
        ("reference", request.reference),
        ("orderNo", request.order_no),
    )
    for key, value in asked:
        if value is not None and key in data and not _is(value, data[key]):
            return f"its {key} is {_shown(data[key])}"
    if "country" in data:
        country = data["country"]
        if not (
            isinstance(country, str) and country.isascii() and country.upper() == request.country
        ):
            return f"its country is {_shown(country)}, not {request.country!r}"
    return None


def parse_close_answer(
    status: int,
    retry_after: str | None,
    content: bytes,
    request: CloseRequest,
    *,
    on_code: Callable[[str], object] | None = None,
) -> Payment:
    """Turn the answer to a close into a closed ``Payment``, or raise the matching error.

    Args:
        status: The HTTP status.
        retry_after: The ``Retry-After`` header, if any.
        content: The body, already read (and bounded).
        request: What was asked.
        on_code: Called with OPay's ``code`` when the answer carries one (telemetry).

    Raises:
        OPayAPIError: A JSON answer whose ``code`` is not a success (a subclass per code).
        OPayHTTPError: A non-2xx status without a usable OPay JSON answer.
        OPayResponseError: A 2xx answer that is not the JSON a success must be, a
            success about another payment than the one asked for, or an answer naming
            a key twice in one object (at any depth; retryable with a 429 or 5xx status).
        PaymentNotClosedError: A success whose payment is not ``CLOSE``
            (``PaymentAlreadyPaidError`` when it was paid).
    """
    identity = request.identity()
    wait = parse_retry_after(retry_after)
    try:
        fields = _load(content)
    except _RepeatedKey as repeated:
        raise OPayResponseError(
            f"OPay's answer names {_shown(repeated.key)} twice in one object: it says two "
            "things, and neither is taken",
            retryable=status in RETRYABLE_HTTP_STATUSES,
            **identity,
        ) from None
    code = _code(fields.get("code"))
    if code is not None and on_code is not None:
        on_code(code)
    if code is None:
        if not 200 <= status < 300:
            raise OPayHTTPError(status, _snippet(content), retry_after=wait, **identity)
        raise OPayResponseError(
            f"OPay's answer is not an OPay JSON answer: {_snippet(content)}", **identity
        )
    if code not in SUCCESS_CODES:
        message = fields.get("message")
        text = _printable(message, SNIPPET) if isinstance(message, str) else ""
        raise api_error_for(
            code, redact(text) or "(no message)", status_code=status, retry_after=wait, **identity
        )
    if not 200 <= status < 300:
        raise OPayHTTPError(
            status, f"a success code with HTTP {status}: {_snippet(content)}", **identity
        )
    data = fields.get("data")
    if not isinstance(data, dict):
        raise OPayResponseError("OPay's success answer has no 'data' object", **identity)
    payload: dict[str, Any] = data  # pyright: ignore[reportUnknownVariableType]
    raw_status = payload.get("orderStatus")
    if not isinstance(raw_status, str) or not raw_status:
        raise OPayResponseError("OPay's success answer has no 'data.orderStatus'", **identity)
    another = _about_another_payment(request, payload)
    if another is not None:
        raise OPayResponseError(f"OPay's answer is about another payment: {another}", **identity)
    payment = Payment(
        reference=request.reference or _text(payload.get("reference")),
        order_no=request.order_no or _text(payload.get("orderNo")),
        country=request.country,
        amount=_amount(payload.get("amount")),
        order_status=OrderStatus.parse(raw_status),
        raw_order_status=_printable(raw_status, _FIELD),
    )
    return closed_payment(payment)
