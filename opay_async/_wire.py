"""Reading OPay's answer: a ``Payment``, or the right ``OPayError``."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx

from ._errors import (
    OPayHTTPError,
    OPayResponseError,
    api_error_for,
    redact,
)
from ._payment import Amount, OrderStatus, Payment
from ._request import CloseRequest

__all__ = ["SUCCESS_CODE", "parse_close_answer", "parse_retry_after"]

#: The ``code`` of a successful answer.
SUCCESS_CODE = "00000"
_SNIPPET = 200


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date).

    Example:
        >>> parse_retry_after("3"), parse_retry_after("soon")
        (3.0, None)
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(content: bytes) -> str:
    text = content[:_SNIPPET].decode("utf-8", "replace")
    text = " ".join(text.split())
    suffix = "..." if len(content) > _SNIPPET else ""
    return redact(text) + suffix if text else "(empty body)"


def _text(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _code(value: object) -> str | None:
    """OPay's ``code``; a JSON number is read as the 5-digit code it stands for."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return f"{value:05d}"
    return _text(value)


def _amount(value: object) -> Amount | None:
    if not isinstance(value, dict):
        return None
    fields: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    total: object = fields.get("total")
    currency: object = fields.get("currency")
    if isinstance(total, str) and total.isdigit():
        total = int(total)
    if (
        isinstance(total, int)
        and not isinstance(total, bool)
        and total >= 0
        and isinstance(currency, str)
        and len(currency) == 3
        and currency.isascii()
        and currency.isalpha()
    ):
        return Amount(total, currency)
    return None


def parse_close_answer(response: httpx.Response, request: CloseRequest) -> Payment:
    """Turn the answer to a close into a :class:`Payment`, or raise the matching error.

    Raises:
        OPayAPIError: A JSON answer whose ``code`` is not ``00000`` (a subclass per code).
        OPayHTTPError: A non-2xx status without a usable OPay JSON answer.
        OPayResponseError: A 2xx answer that is not the JSON a success must be.
    """
    identity = request.identity()
    status = response.status_code
    content = response.content
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    try:
        answer: object = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        answer = None
    fields: dict[str, Any] = answer if isinstance(answer, dict) else {}  # pyright: ignore[reportUnknownVariableType]
    code = _code(fields.get("code"))
    if code is None:
        if not 200 <= status < 300:
            raise OPayHTTPError(status, _snippet(content), retry_after=retry_after, **identity)
        raise OPayResponseError(
            f"OPay's answer is not an OPay JSON answer: {_snippet(content)}", **identity
        )
    if code != SUCCESS_CODE:
        message = fields.get("message")
        raise api_error_for(
            code,
            redact(message) if isinstance(message, str) and message else "(no message)",
            http_status=status,
            retry_after=retry_after,
            **identity,
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
    country = payload.get("country")
    return Payment(
        reference=_text(payload.get("reference")) or request.reference,
        order_no=_text(payload.get("orderNo")) or request.order_no,
        country=country.upper()
        if isinstance(country, str)
        and len(country) == 2
        and country.isascii()
        and country.isalpha()
        else request.country,
        amount=_amount(payload.get("amount")),
        order_status=OrderStatus.parse(raw_status),
        raw_order_status=raw_status,
    )
