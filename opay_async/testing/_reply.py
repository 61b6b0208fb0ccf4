"""What the simulator answers: ``Reply``, the ``Responder`` shape, and OPay's answers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs

from .._payment import Payment
from .._repr import SafeRepr
from ._faults import Fault, FaultKind

__all__ = [
    "ALREADY_PAID",
    "ALREADY_PAID_CODE",
    "ALREADY_PAID_MESSAGE",
    "AUTHENTICATION_FAILED",
    "NOT_ALLOWED",
    "NOT_FOUND",
    "PARAMS_NOT_VALID",
    "PAYMENT_NOT_FOUND",
    "Reply",
    "Responder",
    "error_reply",
    "fault_reply",
    "json_reply",
    "message_for",
    "payment_reply",
]

ALREADY_PAID_CODE: Final = "02001"
"""The code answered for a close of a paid payment with ``FakeOPay(paid_answer="error")``."""
ALREADY_PAID_MESSAGE: Final = "payment already paid, use the refund API."
"""The message answered for a close of a paid payment with ``paid_answer="error"``."""


@attrs.frozen(kw_only=True, repr=False)
class Reply(SafeRepr):
    """What the simulator answers to one request.

    Attributes:
        status: The HTTP status (0 when nothing is answered: ``fault`` says why).
        body: The body bytes.
        content_type: The ``Content-Type`` of the body.
        headers: More headers to send (e.g. ``Retry-After``).
        fault: ``FaultKind.DROP`` or ``FaultKind.TIMEOUT`` when no answer is to be sent.
        code: OPay's ``code`` in the body, when it is an OPay JSON answer.

    Examples:
        >>> reply = json_reply({"code": "00000", "message": "SUCCESSFUL"})
        >>> reply.status, reply.code, reply.body
        (200, '00000', b'{"code":"00000","message":"SUCCESSFUL"}')
    """

    status: int
    body: bytes = attrs.field(repr=False)
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    fault: FaultKind | None = None
    code: str | None = None


Responder = Callable[[str, str, Mapping[str, str], bytes], Awaitable[Reply]]
"""What the simulator's transport, ASGI app and server call to answer one request.

``await respond(method, path, headers, body)``, headers looked up by lower-case name
(the shape of the handler ``httpx2.MockTransport`` takes). ``FakeOPay.respond`` is one.
"""


def json_reply(payload: Mapping[str, Any], status: int = 200) -> Reply:
    """``payload`` as compact JSON; ``code`` is read from it when it is a string."""
    code = payload.get("code")
    return Reply(
        status=status,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        code=code if isinstance(code, str) else None,
    )


def error_reply(code: str, message: str) -> Reply:
    """OPay's shape of a business error: HTTP 200, ``{"code", "message"}``."""
    return json_reply({"code": code, "message": message})


# OPay's documented messages, and those reported for codes it answers elsewhere.
_MESSAGES: Final = {
    "02000": "authentication failed.",
    "02001": "request params not valid.",
    "02002": "merchant not configured with this function.",
    "02003": "payMethod not support.",
    "02004": "the payment reference(merchant order number) already exists.",
    "02006": "payment not found.",
    "02007": "merchant not available.",
    "50003": "service not available, please try again.",
}


def message_for(code: str) -> str:
    """OPay's message for ``code``, or a made-up one for a code it does not document."""
    return _MESSAGES.get(code, f"simulated error {code}.")


NOT_FOUND: Final = Reply(status=404, body=b"Not Found", content_type="text/plain")
NOT_ALLOWED: Final = Reply(
    status=405, body=b"Method Not Allowed", content_type="text/plain", headers=(("allow", "POST"),)
)
AUTHENTICATION_FAILED: Final = error_reply("02000", message_for("02000"))
PARAMS_NOT_VALID: Final = error_reply("02001", message_for("02001"))
PAYMENT_NOT_FOUND: Final = error_reply("02006", message_for("02006"))
ALREADY_PAID: Final = error_reply(ALREADY_PAID_CODE, ALREADY_PAID_MESSAGE)
_TRUNCATED: Final = Reply(status=200, body=b'{"code":"00000","message":"SUCC')


def payment_reply(payment: Payment) -> Reply:
    """OPay's documented success answer reporting ``payment``."""
    amount = payment.amount
    data: dict[str, Any] = {
        "reference": payment.reference,
        "orderNo": payment.order_no,
        "country": payment.country,
        "amount": None if amount is None else {"total": amount.total, "currency": amount.currency},
        "orderStatus": payment.raw_order_status,
    }
    return json_reply({"code": "00000", "message": "SUCCESSFUL", "data": data})


def fault_reply(fault: Fault) -> Reply:
    """The answer ``fault`` gives instead of OPay's (nothing at all for a drop or timeout)."""
    if fault.kind is FaultKind.API_ERROR:
        return error_reply(fault.code, fault.message)
    if fault.kind is FaultKind.HTTP_ERROR:
        headers = (("retry-after", fault.retry_after),) if fault.retry_after else ()
        return Reply(
            status=fault.status,
            body=fault.body.encode(errors="replace"),
            content_type=fault.content_type,
            headers=headers,
        )
    if fault.kind is FaultKind.MALFORMED:
        return _TRUNCATED
    return Reply(status=0, body=b"", fault=fault.kind)
