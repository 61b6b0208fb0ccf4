"""The admin API: steer the simulator over HTTP, beside OPay's paths, under ``/_simulator``.

JSON in, JSON out. Bad input of any kind (bytes that are not JSON, an unknown field, a
status or a number out of range, a body too large) answers a 4xx with
``{"error": "<what is wrong>"}``, never a 500. Admin requests are not OPay requests:
they are not counted, recorded, delayed or faulted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from .._errors import OPayValidationError
from .._payment import MAX_TOTAL, Amount, OrderStatus, Payment
from .._validation import number
from ._faults import MAX_SCHEDULED, Fault, FaultKind, FaultRates
from ._latency import MAX_LATENCY, Latency
from ._opay import NotAJSONObject, SimulatedOPay, json_object
from ._reply import Reply, json_reply, message_for

__all__ = ["ADMIN_PREFIX", "MAX_ADMIN_BODY", "AdminAPI"]

ADMIN_PREFIX: Final = "/_simulator"
"""Every admin path starts with this prefix (OPay's own paths never do)."""
#: The largest admin request body accepted (HTTP 413 above it).
MAX_ADMIN_BODY: Final = 64 * 1024

_FAULT_FIELDS: Final = {
    "kind",
    "count",
    "code",
    "message",
    "status",
    "body",
    "content_type",
    "retry_after",
    "after_close",
}
_PAYMENT_FIELDS: Final = {"reference", "order_no", "country", "amount", "status"}
_RATE_FIELDS: Final = {"service_unavailable", "http_502", "malformed", "drop", "timeout", "seed"}


class _Refused(Exception):
    """An admin request answered with a 4xx: ``status`` and a message."""

    def __init__(self, status: int, message: str, allow: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.allow = allow


def _error(status: int, message: str, allow: str | None = None) -> Reply:
    reply = json_reply({"error": message}, status=status)
    if allow is None:
        return reply
    return Reply(status=status, body=reply.body, headers=(("allow", allow),))


class AdminAPI:
    """Answers admin requests from the simulated OPay's state and the latency."""

    def __init__(self, opay: SimulatedOPay, latency: Latency) -> None:
        self._opay = opay
        self._latency = latency
        self._routes: dict[str, dict[str, Callable[[dict[str, Any]], Reply]]] = {
            "": {"GET": self._info},
            "/payments": {"GET": self._list_payments, "POST": self._add_payment},
            "/faults": {"GET": self._faults, "POST": self._queue_fault, "DELETE": self._clear},
            "/fault-rates": {"POST": self._set_rates},
            "/latency": {"POST": self._set_latency},
            "/settings": {"POST": self._settings},
            "/requests": {"GET": self._requests, "DELETE": self._forget_requests},
            "/reset": {"POST": self._reset},
        }

    def handle(self, method: str, path: str, body: bytes) -> Reply:
        """Answer one admin request (``path`` starts with ``ADMIN_PREFIX``)."""
        try:
            return self._route(method, path.removeprefix(ADMIN_PREFIX).rstrip("/"), body)
        except _Refused as refused:
            return _error(refused.status, str(refused), refused.allow)
        except OPayValidationError as error:
            return _error(400, str(error))
        except LookupError as error:
            return _error(404, str(error).strip("'\""))

    def _route(self, method: str, route: str, body: bytes) -> Reply:
        if len(body) > MAX_ADMIN_BODY:
            raise _Refused(413, f"the body is over {MAX_ADMIN_BODY} bytes")
        handlers = self._routes.get(route)
        if handlers is None:
            return self._payment_route(method, route, body)
        handler = handlers.get(method)
        if handler is None:
            allowed = ", ".join(handlers)
            raise _Refused(405, f"{method} is not allowed here; use {allowed}", allowed)
        return handler(_object(body) if method != "GET" else {})

    def _payment_route(self, method: str, route: str, body: bytes) -> Reply:
        reference = route.removeprefix("/payments/")
        if reference == route or not reference:
            raise _Refused(404, f"no admin path {ADMIN_PREFIX}{route}; see the testing docs")
        if method == "POST" and reference.endswith("/status"):
            fields = _fields(_object(body), {"status"}, required={"status"})
            payment = self._opay.ledger.set_status(
                _status(fields["status"]), reference=reference.removesuffix("/status")
            )
            return json_reply(_payment(payment))
        if method != "GET":
            raise _Refused(405, f"{method} is not allowed here; use GET", "GET")
        return json_reply(_payment(self._opay.ledger.get(reference=reference)))

    # -- handlers: each takes the body as a JSON object ({} for GET) -----------------------

    def _info(self, _body: dict[str, Any]) -> Reply:
        opay = self._opay
        return json_reply(
            {
                "merchant_id": opay.merchant_id,
                "auto_create": opay.auto_create,
                "paid_answer": opay.paid_answer,
                "payments": len(opay.ledger),
                "request_count": opay.log.count,
                "closed_count": opay.ledger.closed_count,
                "pending_faults": opay.faults.pending,
                "fault_rates": opay.faults.rates.as_dict(),
                "latency": self._latency_json(),
            }
        )

    def _list_payments(self, _body: dict[str, Any]) -> Reply:
        return json_reply({"payments": [_payment(p) for p in self._opay.ledger.all()]})

    def _add_payment(self, body: dict[str, Any]) -> Reply:
        fields = _fields(body, _PAYMENT_FIELDS, required={"reference"})
        amount = fields.get("amount")
        payment = self._opay.ledger.add(
            reference=fields["reference"],
            order_no=fields.get("order_no"),
            country=fields.get("country", "EG"),
            amount=None if amount is None else _amount(amount),
            status=_status(fields.get("status", "INITIAL")),
        )
        return json_reply(_payment(payment), status=201)

    def _faults(self, _body: dict[str, Any]) -> Reply:
        faults = self._opay.faults
        runs: list[dict[str, Any]] = []
        for fault in faults.scheduled:  # in runs: {"kind": ..., "count": 3}
            shown = _fault_json(fault)
            if runs and {**runs[-1], "count": 1} == shown | {"count": 1}:
                runs[-1]["count"] += 1
            else:
                runs.append(shown | {"count": 1})
        return json_reply(
            {"pending_faults": faults.pending, "pending": runs, "rates": faults.rates.as_dict()}
        )

    def _queue_fault(self, body: dict[str, Any]) -> Reply:
        fields = _fields(body, _FAULT_FIELDS, required={"kind"})
        kind = fields.pop("kind")
        try:
            fields["kind"] = FaultKind(kind)
        except (ValueError, TypeError):
            kinds = ", ".join(k.value for k in FaultKind)
            raise _Refused(400, f"kind: must be one of {kinds}, got {kind!r}") from None
        count = number(
            "count", fields.pop("count", 1), integer=True, at_least=0, at_most=MAX_SCHEDULED
        )
        if fields["kind"] is FaultKind.API_ERROR and "message" not in fields:
            code = fields.get("code", "50003")
            fields["message"] = message_for(code) if isinstance(code, str) else ""
        if "after_close" in fields and not isinstance(fields["after_close"], bool):
            raise _Refused(400, "after_close: must be true or false")
        self._opay.faults.schedule(Fault(**fields), count)
        return self._faults({})

    def _clear(self, _body: dict[str, Any]) -> Reply:
        self._opay.faults.clear()
        return self._faults({})

    def _set_rates(self, body: dict[str, Any]) -> Reply:
        fields = _fields(body, _RATE_FIELDS)
        seed = fields.pop("seed", None)
        self._opay.faults.set_rates(FaultRates(**fields), seed)
        return self._faults({})

    def _settings(self, body: dict[str, Any]) -> Reply:
        fields = _fields(body, {"auto_create", "paid_answer"})
        auto_create = fields.get("auto_create", self._opay.auto_create)
        if not isinstance(auto_create, bool):
            raise _Refused(400, "auto_create: must be true or false")
        self._opay.set_paid_answer(fields.get("paid_answer", self._opay.paid_answer))
        self._opay.auto_create = auto_create
        return self._info({})

    def _set_latency(self, body: dict[str, Any]) -> Reply:
        fields = _fields(body, {"seconds", "min", "max"})
        if "seconds" in fields and fields.keys() & {"min", "max"}:
            raise _Refused(400, "give seconds, or min and max, not both")
        for name, value in fields.items():  # named as sent, before Latency checks the pair
            if value is not None:
                number(f"latency.{name}", value, at_least=0, at_most=MAX_LATENCY)
        if "seconds" in fields:
            self._latency.set(fields["seconds"])
        elif "min" in fields:
            self._latency.set(fields["min"], fields.get("max"))
        else:
            raise _Refused(400, 'give {"seconds": S} or {"min": S, "max": S}')
        return json_reply({"latency": self._latency_json()})

    def _requests(self, _body: dict[str, Any]) -> Reply:
        log = self._opay.log
        return json_reply(
            {"count": log.count, "requests": [seen.as_json() for seen in log.requests]}
        )

    def _forget_requests(self, _body: dict[str, Any]) -> Reply:
        self._opay.log.reset()
        return self._requests({})

    def _reset(self, body: dict[str, Any]) -> Reply:
        settings = _fields(body, {"settings"}).get("settings", False)
        if not isinstance(settings, bool):
            raise _Refused(400, "settings: must be true or false")
        self._opay.reset()
        if settings:
            self._opay.faults.clear()
            self._latency.set(0)
        return self._info({})

    def _latency_json(self) -> dict[str, float]:
        return {"min": self._latency.minimum, "max": self._latency.maximum}


def _object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``."""
    if not body.strip():
        return {}
    try:
        return json_object(body)
    except NotAJSONObject as error:
        raise _Refused(400, str(error)) from None


def _fields(
    body: dict[str, Any], allowed: set[str], required: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    unknown = sorted(body.keys() - allowed)
    if unknown:
        raise _Refused(400, f"unknown field {unknown[0]!r}; known: {', '.join(sorted(allowed))}")
    missing = sorted(required - body.keys())
    if missing:
        raise _Refused(400, f"{missing[0]}: is required")
    return dict(body)


def _status(value: object) -> OrderStatus:
    if isinstance(value, str):
        try:
            status = OrderStatus(value.upper())
        except ValueError:
            status = OrderStatus.UNKNOWN
        if status is not OrderStatus.UNKNOWN:
            return status
    states = ", ".join(s.value for s in OrderStatus if s is not OrderStatus.UNKNOWN)
    raise _Refused(400, f"status: must be one of {states}, got {value!r}")


def _amount(value: object) -> Amount:
    fields = _object_fields(value)
    if fields is None or set(fields) != {"total", "currency"}:
        raise _Refused(400, 'amount: must be {"total": <minor units>, "currency": "EGP"}')
    total = number("total", fields["total"], integer=True, at_least=0, at_most=MAX_TOTAL)
    currency = fields["currency"]
    if not isinstance(currency, str):
        raise _Refused(400, f"currency: must be a string, got {currency!r}")
    return Amount(total, currency)


def _object_fields(value: object) -> Mapping[str, object] | None:
    return cast("dict[str, object]", value) if isinstance(value, dict) else None


def _payment(payment: Payment) -> dict[str, Any]:
    amount = payment.amount
    return {
        "reference": payment.reference,
        "order_no": payment.order_no,
        "country": payment.country,
        "amount": None if amount is None else {"total": amount.total, "currency": amount.currency},
        "status": payment.order_status.value,
    }


def _fault_json(fault: Fault) -> dict[str, Any]:
    shown: dict[str, Any] = {"kind": fault.kind.value}
    if fault.kind is FaultKind.API_ERROR:
        shown |= {"code": fault.code, "message": fault.message}
    elif fault.kind is FaultKind.HTTP_ERROR:
        shown |= {"status": fault.status, "retry_after": fault.retry_after}
    elif fault.kind in (FaultKind.DROP, FaultKind.TIMEOUT):
        shown["after_close"] = fault.after_close
    return shown
