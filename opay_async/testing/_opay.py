"""OPay's close endpoint as simulated: its checks, then faults, scripts and the ledger."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final, Literal, cast

from .._environment import CLOSE_PATH
from .._errors import OPayValidationError
from .._payment import OrderStatus
from .._settings import check_merchant_id
from .._validation import country_code, text
from ._faults import Fault, FaultPlan
from ._ledger import Ledger
from ._recording import RequestLog
from ._reply import (
    ALREADY_PAID,
    AUTHENTICATION_FAILED,
    NOT_ALLOWED,
    NOT_FOUND,
    PARAMS_NOT_VALID,
    PAYMENT_NOT_FOUND,
    Reply,
    error_reply,
    fault_reply,
    payment_reply,
)
from ._scripted import ScriptBook, ScriptError, parse_script

__all__ = [
    "DEFAULT_MERCHANT_ID",
    "DEFAULT_SECRET_KEY",
    "NotAJSONObject",
    "PaidAnswer",
    "SimulatedOPay",
    "json_object",
]

DEFAULT_MERCHANT_ID: Final = "256612345678901"
"""The merchant id a ``FakeOPay()`` accepts by default (the one in OPay's documentation)."""
DEFAULT_SECRET_KEY: Final = "OPAYPRV_SIMULATOR_KEY_NOT_A_SECRET"  # noqa: S105 (public test key)
"""The secret key a ``FakeOPay()`` checks signatures with by default. Public; not a real key."""

PaidAnswer = Literal["status", "error"]
"""How a close of a paid payment is answered: ``"status"``, OPay's success shape with
``orderStatus: SUCCESS`` (the default), or ``"error"``, ``02001`` "payment already paid, use the
refund API."."""
_PAID_ANSWERS: Final[tuple[PaidAnswer, ...]] = ("status", "error")


class NotAJSONObject(ValueError):
    """A body that is not a JSON object; the message says why."""


def json_object(body: bytes) -> dict[str, Any]:
    """``body`` parsed as a JSON object, whatever the bytes.

    Raises:
        NotAJSONObject: It is not a JSON object.
    """
    try:
        parsed: object = json.loads(body)
    except UnicodeDecodeError:
        raise NotAJSONObject("the body is not UTF-8 text") from None
    except ValueError as error:
        raise NotAJSONObject(f"the body is not JSON: {error}") from None
    except RecursionError:
        raise NotAJSONObject("the body is not JSON: nested too deeply") from None
    if not isinstance(parsed, dict):
        raise NotAJSONObject(f"the body must be a JSON object, got {type(parsed).__name__}")
    return cast("dict[str, Any]", parsed)


def _parse_object(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or ``None``."""
    try:
        return json_object(body)
    except NotAJSONObject:
        return None


def _valid_close(payload: dict[str, Any]) -> bool:
    """Whether ``payload`` is a close request OPay would accept (else 02001)."""
    try:
        country_code(payload.get("country"), upper_only=True)
    except OPayValidationError:
        return False
    ids = (payload.get("reference"), payload.get("orderNo"))
    if ids == (None, None):
        return False
    return all(value is None or (isinstance(value, str) and value) for value in ids)


class SimulatedOPay:
    """The close endpoint: it checks, then answers from its faults, scripts and ledger.

    A request is checked as OPay does (path, method, ``MerchantId``, the signature over
    the raw body, the body), recorded in ``log``, and answered. A scheduled or random
    fault is drawn after the signature is checked and before anything else, so a faulted
    request changes no payment unless the fault is an ``after_close`` one. Scripted
    references (``[sim:...]``) apply to requests signed right with a valid body; their
    payment is created on first sight, whether ``auto_create`` is set or not.
    """

    def __init__(
        self,
        merchant_id: str,
        secret_key: str,
        auto_create: bool,
        *,
        paid_answer: PaidAnswer,
        record_limit: int | None,
    ) -> None:
        # one a client can send: digits, never a key (the client refuses anything else)
        self.merchant_id = check_merchant_id(merchant_id)
        self._key = text("secret_key", secret_key).encode()
        self.auto_create = auto_create
        self.paid_answer: PaidAnswer = "status"
        self.set_paid_answer(paid_answer)
        self.ledger = Ledger()
        self.faults = FaultPlan()
        self.log = RequestLog(record_limit)
        self.scripts = ScriptBook()

    def set_paid_answer(self, value: object) -> None:
        """Answer a close of a paid payment so from now on (``"status"`` or ``"error"``)."""
        for answer in _PAID_ANSWERS:
            if value == answer:
                self.paid_answer = answer
                return
        raise OPayValidationError(
            "paid_answer", f"must be {' or '.join(map(repr, _PAID_ANSWERS))}, got {value!r}"
        )

    def reset(self) -> None:
        """Forget payments, scheduled faults, requests and scripted counts."""
        self.ledger.clear()
        self.faults.clear_scheduled()
        self.log.reset()
        self.scripts.clear()

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request to OPay's API at once."""
        log = self.log
        if path != CLOSE_PATH:
            return log.add(method, path, headers, body, reply=NOT_FOUND)
        if method != "POST":
            return log.add(method, path, headers, body, reply=NOT_ALLOWED)
        verified = headers.get("merchantid") == self.merchant_id and self._signature_ok(
            headers.get("authorization"), body
        )
        payload = _parse_object(body)
        fault = self.faults.next()
        if fault is not None and not fault.after_close:
            reply = fault_reply(fault)
        elif not verified:
            reply = AUTHENTICATION_FAILED
        elif payload is None or not _valid_close(payload):
            reply = PARAMS_NOT_VALID
        else:
            reply, scripted = self._close(payload)
            fault = fault or scripted
        if fault is not None and fault.after_close:  # processed, but the answer is lost
            reply = fault_reply(fault)
        kind = None if fault is None else fault.kind
        return log.add(
            method, path, headers, body, payload=payload, verified=verified, reply=reply, fault=kind
        )

    def _signature_ok(self, given: str | None, body: bytes) -> bool:
        if given is None or not given.startswith("Bearer "):
            return False
        expected = hmac.new(self._key, body, hashlib.sha512).hexdigest()
        return hmac.compare_digest(expected.encode(), given[7:].encode(errors="replace"))

    def _close(self, payload: dict[str, Any]) -> tuple[Reply, Fault | None]:
        """The answer to a valid close, and the scripted fault that applied, if any."""
        reference: str | None = payload.get("reference")
        create_as = OrderStatus.INITIAL if self.auto_create else None
        scripted = None
        if reference is not None:
            try:
                script = parse_script(reference)
            except ScriptError as error:
                return error_reply("02001", f"simulator: bad [sim:...] reference: {error}"), None
            if script is not None:
                scripted = script.fault_for(self.scripts.attempt(reference))
                if scripted is not None and not scripted.after_close:
                    return fault_reply(scripted), scripted
                create_as = script.state or OrderStatus.INITIAL  # scripted: always known
        payment = self.ledger.close(
            reference, payload.get("orderNo"), payload["country"], create_as
        )
        if payment is None:
            return PAYMENT_NOT_FOUND, scripted
        if payment.order_status is OrderStatus.SUCCESS and self.paid_answer == "error":
            return ALREADY_PAID, scripted
        return payment_reply(payment), scripted
