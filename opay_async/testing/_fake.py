"""``FakeOPay``: an in-memory OPay Cancel Payment API that checks requests like the real one."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import random
import zlib
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._client import OPayClient
from .._environment import CLOSE_PATH
from .._errors import OPayValidationError
from .._payment import Amount, OrderStatus, Payment
from .._validation import country_code
from ._faults import BAD_GATEWAY_PAGE, SERVICE_UNAVAILABLE, Fault, FaultKind, FaultPlan

if TYPE_CHECKING:
    from ._asgi import ASGIApp
    from ._transport import FakeTransport

__all__ = [
    "ALREADY_PAID_CODE",
    "ALREADY_PAID_MESSAGE",
    "DEFAULT_MERCHANT_ID",
    "DEFAULT_SECRET_KEY",
    "FakeOPay",
    "Reply",
    "SeenRequest",
]

#: The merchant id a ``FakeOPay()`` accepts by default (the one in OPay's documentation).
DEFAULT_MERCHANT_ID: Final = "256612345678901"
#: The secret key a ``FakeOPay()`` checks signatures with by default. Public; not a real key.
DEFAULT_SECRET_KEY: Final = "OPAYPRV_SIMULATOR_KEY_NOT_A_SECRET"  # noqa: S105 (public test key)
#: The code answered for a close of a payment already paid (see ``FakeOPay``).
ALREADY_PAID_CODE: Final = "02001"
#: The message answered for a close of a payment already paid.
ALREADY_PAID_MESSAGE: Final = "payment already paid, use the refund API."

_CURRENCIES: Final = {"EG": "EGP", "NG": "NGN", "KE": "KES", "GH": "GHS", "ZA": "ZAR"}
_CLOSABLE: Final = frozenset({OrderStatus.INITIAL, OrderStatus.PENDING})


@attrs.frozen(kw_only=True)
class Reply:
    """What the simulator answers to one request.

    Attributes:
        status: The HTTP status (0 when nothing is answered: ``fault`` says why).
        body: The body bytes.
        content_type: The ``Content-Type`` of the body.
        headers: More headers to send (e.g. ``Retry-After``).
        fault: ``FaultKind.DROP`` or ``FaultKind.TIMEOUT`` when no answer is to be sent.
        code: OPay's ``code`` in the body, when it is an OPay JSON answer.
    """

    status: int
    body: bytes = attrs.field(repr=False)
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    fault: FaultKind | None = None
    code: str | None = None


@attrs.frozen(kw_only=True)
class SeenRequest:
    """A request the simulator received, recorded in :attr:`FakeOPay.requests`.

    Attributes:
        method: The HTTP method.
        path: The URL path.
        merchant_id: The ``MerchantId`` header, if any.
        authorization: The ``Authorization`` header, if any (not shown in ``repr``).
        content_type: The ``Content-Type`` header, if any.
        body: The raw body bytes.
        json: The body parsed as a JSON object, or ``None`` when it is not one.
        verified: Whether the merchant id and the signature were right (recorded even
            when a fault answered the request).
        status: The HTTP status answered; 0 for a dropped connection or a timeout.
        code: OPay's ``code`` in the answer, if an OPay JSON answer was sent.
        fault: The injected fault, if one applied to this request.

    Example:
        ```python
        seen = fake.requests[-1]
        assert seen.verified and seen.code == "00000"
        assert seen.reference == "SHOP-1"
        ```
    """

    method: str
    path: str
    merchant_id: str | None
    authorization: str | None = attrs.field(repr=False)
    content_type: str | None = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    json: dict[str, Any] | None = attrs.field(repr=False)
    verified: bool
    status: int
    code: str | None
    fault: FaultKind | None = None

    @property
    def reference(self) -> str | None:
        """The ``reference`` of the body, when it is a string."""
        return _text_field(self.json, "reference")

    @property
    def order_no(self) -> str | None:
        """The ``orderNo`` of the body, when it is a string."""
        return _text_field(self.json, "orderNo")


def _text_field(payload: dict[str, Any] | None, name: str) -> str | None:
    value = None if payload is None else payload.get(name)
    return value if isinstance(value, str) else None


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


def _json_reply(payload: dict[str, Any]) -> Reply:
    return Reply(
        status=200, body=json.dumps(payload, separators=(",", ":")).encode(), code=payload["code"]
    )


def _error(code: str, message: str) -> Reply:
    return _json_reply({"code": code, "message": message})


_NOT_FOUND: Final = Reply(status=404, body=b"Not Found", content_type="text/plain")
_NOT_ALLOWED: Final = Reply(
    status=405, body=b"Method Not Allowed", content_type="text/plain", headers=(("allow", "POST"),)
)
_AUTHENTICATION_FAILED: Final = _error("02000", "authentication failed.")
_PARAMS_NOT_VALID: Final = _error("02001", "request params not valid.")
_PAYMENT_NOT_FOUND: Final = _error("02006", "payment not found.")
_ALREADY_PAID: Final = _error(ALREADY_PAID_CODE, ALREADY_PAID_MESSAGE)
_TRUNCATED: Final = Reply(status=200, body=b'{"code":"00000","message":"SUCC')


def _parse_object(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or ``None``."""
    try:
        parsed: object = json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        return None
    if isinstance(parsed, dict):
        return parsed  # pyright: ignore[reportUnknownVariableType]
    return None


def _valid_close(payload: dict[str, Any]) -> bool:
    """Whether ``payload`` is a close request OPay would accept (else 02001)."""
    country = payload.get("country")
    if not (
        isinstance(country, str)
        and len(country) == 2
        and country.isascii()
        and country.isalpha()
        and country.isupper()
    ):
        return False
    ids = (payload.get("reference"), payload.get("orderNo"))
    if ids == (None, None):
        return False
    return all(value is None or (isinstance(value, str) and value) for value in ids)


def _checked_text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OPayValidationError(field, "must be a non-empty string")
    return value


def _checked_status(value: object) -> OrderStatus:
    if not isinstance(value, OrderStatus) or value is OrderStatus.UNKNOWN:
        raise OPayValidationError("status", f"must be an OrderStatus, got {value!r}")
    return value


def _trim_at(limit: int | None) -> int | None:
    """How long ``requests`` may grow before its oldest entries are dropped."""
    return None if limit is None else limit + max(limit // 10, 1)


class FakeOPay:
    """An in-process OPay Cancel Payment API for tests, demos and load tests.

    It checks every request as OPay does. A path other than
    ``/api/v1/international/payment/close`` answers HTTP 404 and another method than
    ``POST`` HTTP 405 (plain text). A ``MerchantId`` header other than its merchant id, or
    an ``Authorization`` header other than ``Bearer <hex HMAC-SHA512 of the raw body
    bytes, keyed with the secret key>`` (compared with ``hmac.compare_digest``) answers
    ``02000`` "authentication failed.". A body that is not a JSON object with an
    upper-case two-letter ``country`` and a non-empty string ``reference`` or ``orderNo``
    (both may be given, and must then name the same payment) answers ``02001`` "request
    params not valid.".

    State machine of a close:

    - ``INITIAL`` or ``PENDING``: becomes ``CLOSE``; the answer is OPay's documented
      success, ``{"code": "00000", "message": "SUCCESSFUL", "data": {"reference",
      "orderNo", "country", "amount": {"total", "currency"}, "orderStatus": "CLOSE"}}``.
    - ``CLOSE``: answers ``CLOSE`` again: closing is idempotent, so a retried close whose
      first answer was lost succeeds.
    - ``FAIL``: answers the success shape with ``orderStatus: FAIL``, unchanged. A failed
      payment can no longer be paid, so there is nothing to cancel and nothing to refuse;
      OPay's answer reports the state, and the caller decides (the SDK returns the
      ``Payment`` with ``order_status`` ``FAIL``, not an error).
    - ``SUCCESS`` (paid): answers ``02001`` "payment already paid, use the refund API."
      (:data:`ALREADY_PAID_CODE`). OPay documents no code of its own for this case; its
      page only says a paid payment must be refunded instead. ``02001`` is the documented
      code that fits ("the request is not valid for this payment"): the SDK maps it to
      ``InvalidRequestError``, which is never retried (retrying cannot unpay a payment)
      and which an integration must already handle, while the message says what to do.
      An invented code would reach callers as a bare ``OPayAPIError`` instead.
    - unknown payment, a ``country`` other than the payment's, or a ``reference`` and an
      ``orderNo`` naming different payments: ``02006`` "payment not found.". With
      ``auto_create=True``, a payment none of whose given identifiers is known is first
      created as an unpaid ``INITIAL`` one, in the request's country, with an amount
      derived from its reference (the same reference always gets the same amount).

    Faults (:meth:`fail_next`, :meth:`fail_next_http`, :meth:`malformed_next`,
    :meth:`drop_next`, :meth:`timeout_next`, :meth:`set_fault_rates`) are drawn for each
    request to the close path, after its signature has been checked and recorded (so
    :attr:`SeenRequest.verified` tells whether the SDK signed right even then) and
    before it is processed: a faulted request changes no payment, as a proxy's error
    page or an overloaded server would. The exceptions are ``drop_next(after_close=True)``
    and ``timeout_next(after_close=True)``: the request is processed as usual (a payment
    may close) and only its answer is lost, the case that makes idempotent retries
    matter. Requests to another path or with another method draw no fault.

    Everything runs on one event loop, without locks: handling a request does not
    await between reading and changing state. It costs about 15 µs of Python (the
    signature check included), so bulk runs and soak tests can go through it.

    Args:
        merchant_id: The merchant id it accepts. By default :data:`DEFAULT_MERCHANT_ID`,
            the sample merchant id of OPay's documentation.
        secret_key: The secret key it checks signatures with; never shown in ``repr``.
            By default :data:`DEFAULT_SECRET_KEY`, a public made-up key (never a real one).
        auto_create: Treat unknown payments as unpaid ones instead of answering 02006.
        record_limit: How many of the latest requests :attr:`requests` keeps (older ones
            are dropped in batches, so it may briefly hold 10% more); ``None`` keeps
            them all and ``0`` records none (for long load tests).

    Attributes:
        merchant_id: The merchant id it accepts.
        auto_create: Whether unknown payments are created on the fly.
        requests: The requests seen (to the latest ``record_limit``), oldest first.
        request_count: How many requests it has handled since the last
            :meth:`reset_requests` (all of them, recorded or not).
        closed_count: How many payments requests have moved to ``CLOSE``.

    Example:
        ```python
        from opay_async import Amount, OrderStatus
        from opay_async.testing import FakeOPay

        fake = FakeOPay()
        fake.add_payment(reference="SHOP-1", country="EG", amount=Amount(400, "EGP"))
        async with fake.client() as opay:
            payment = await opay.close_payment(reference="SHOP-1", country="EG")
        assert payment.order_status is OrderStatus.CLOSE
        assert fake.payment(reference="SHOP-1").order_status is OrderStatus.CLOSE
        assert fake.requests[-1].verified
        ```
    """

    def __init__(
        self,
        merchant_id: str = DEFAULT_MERCHANT_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        *,
        auto_create: bool = False,
        record_limit: int | None = 100_000,
    ) -> None:
        merchant_id = _checked_text("merchant_id", merchant_id)
        secret_key = _checked_text("secret_key", secret_key)
        if record_limit is not None and record_limit < 0:
            raise OPayValidationError("record_limit", f"must be >= 0, got {record_limit!r}")
        self.merchant_id = merchant_id
        self._secret_key = secret_key
        self._key = secret_key.encode()
        self.auto_create = auto_create
        self.requests: list[SeenRequest] = []
        self._record = record_limit != 0
        self._record_limit = record_limit
        self._trim_at = _trim_at(record_limit)
        self.request_count = 0
        self.closed_count = 0
        self._by_reference: dict[str, _Record] = {}
        self._by_order_no: dict[str, _Record] = {}
        self._order_numbers = itertools.count(1)
        self._faults = FaultPlan()
        self._latency: tuple[float, float] = (0.0, 0.0)
        self._random = random.Random(0)  # noqa: S311 (latency jitter, not cryptography)
        self._transport: FakeTransport | None = None
        self._app: ASGIApp | None = None

    def __repr__(self) -> str:
        return (
            f"FakeOPay(merchant_id={self.merchant_id!r}, secret_key=<hidden>, "
            f"payments={len(self._by_order_no)}, auto_create={self.auto_create})"
        )

    @property
    def secret_key(self) -> str:
        """The key the simulator checks signatures with (give it to the client under test)."""
        return self._secret_key

    # -- payments --------------------------------------------------------------------

    def add_payment(
        self,
        *,
        reference: str,
        order_no: str | None = None,
        country: str = "EG",
        amount: Amount | None = None,
        status: OrderStatus = OrderStatus.INITIAL,
    ) -> Payment:
        """Store a payment; returns it as the SDK would see it.

        Args:
            reference: The merchant's order number (unique).
            order_no: OPay's order number (unique); an 18-digit one like OPay's is made
                up when ``None``.
            country: ISO 3166-1 alpha-2 code (upper-cased).
            amount: The amount; when ``None``, one derived from ``reference`` in the
                country's currency.
            status: Its state (``OrderStatus.SUCCESS`` for a paid payment).

        Returns:
            The stored payment.

        Raises:
            OPayValidationError: An empty or already stored reference or order number,
                or a bad country.

        Example:
            >>> fake = FakeOPay()
            >>> fake.add_payment(reference="SHOP-1", amount=Amount(400, "EGP"))
            Payment(reference='SHOP-1', order_no='211018140300000001', country='EG', \
amount=Amount(total=400, currency='EGP'), order_status=<OrderStatus.INITIAL: 'INITIAL'>)
        """
        country = country_code(country)
        reference = _checked_text("reference", reference)
        if reference in self._by_reference:
            raise OPayValidationError("reference", f"{reference!r} already exists")
        if order_no is not None:
            order_no = _checked_text("order_no", order_no)
            if order_no in self._by_order_no:
                raise OPayValidationError("order_no", f"{order_no!r} already exists")
        status = _checked_status(status)
        return self._store(reference, order_no, country, amount, status).snapshot()

    def payment(self, *, reference: str | None = None, order_no: str | None = None) -> Payment:
        """The stored payment with this reference and/or order number, as it is now.

        Raises:
            LookupError: No such payment (or the two name different payments).

        Example:
            ```python
            assert fake.payment(reference="SHOP-1").order_status is OrderStatus.CLOSE
            ```
        """
        return self._lookup(reference, order_no).snapshot()

    def set_status(
        self,
        status: OrderStatus,
        *,
        reference: str | None = None,
        order_no: str | None = None,
    ) -> Payment:
        """Change a stored payment's state (e.g. the customer pays it in the meantime).

        Raises:
            LookupError: No such payment.

        Example:
            ```python
            fake.set_status(OrderStatus.SUCCESS, reference="SHOP-1")  # paid after all
            ```
        """
        status = _checked_status(status)
        record = self._lookup(reference, order_no)
        record.status = status
        return record.snapshot()

    @property
    def payments(self) -> list[Payment]:
        """Every stored payment, in the order they were stored."""
        return [record.snapshot() for record in self._by_order_no.values()]

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
            amount=amount or self._made_up_amount(reference, country),
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

    @staticmethod
    def _made_up_amount(reference: str, country: str) -> Amount:
        total = 100 + zlib.crc32(reference.encode()) % 99_900
        return Amount(total, _CURRENCIES.get(country, "USD"))

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

    # -- faults and latency ------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        code: str = "50003",
        message: str = SERVICE_UNAVAILABLE,
    ) -> None:
        """Answer the next ``n`` close requests with business error ``code`` (HTTP 200).

        Example:
            >>> fake = FakeOPay()
            >>> fake.fail_next(2)  # two "50003 service not available" answers
        """
        self._faults.schedule(Fault(kind=FaultKind.API_ERROR, code=code, message=message), n)

    def fail_next_http(
        self,
        n: int = 1,
        *,
        status: int = 502,
        body: str = BAD_GATEWAY_PAGE,
        content_type: str = "text/html",
        retry_after: float | str | None = None,
    ) -> None:
        """Answer the next ``n`` close requests with an HTTP error and a non-JSON body.

        Args:
            n: How many requests.
            status: The HTTP status.
            body: The body (by default a proxy's "502 Bad Gateway" HTML page).
            content_type: Its content type.
            retry_after: A ``Retry-After`` header to send (seconds or an HTTP date).
        """
        fault = Fault(
            kind=FaultKind.HTTP_ERROR,
            status=status,
            body=body,
            content_type=content_type,
            retry_after=None if retry_after is None else str(retry_after),
        )
        self._faults.schedule(fault, n)

    def malformed_next(self, n: int = 1) -> None:
        """Answer the next ``n`` close requests with HTTP 200 and a truncated, non-JSON body."""
        self._faults.schedule(Fault(kind=FaultKind.MALFORMED), n)

    def drop_next(self, n: int = 1, *, after_close: bool = False) -> None:
        """Break the connection of the next ``n`` close requests before they are answered.

        In process, the transport raises ``httpx.RemoteProtocolError``; the ASGI app
        sends the start of an answer and breaks off.

        Args:
            n: How many requests.
            after_close: Process the request first (the payment closes) and lose only
                the answer: "closed, but the client never heard".
        """
        self._faults.schedule(Fault(kind=FaultKind.DROP, after_close=after_close), n)

    def timeout_next(self, n: int = 1, *, after_close: bool = False) -> None:
        """Never answer the next ``n`` close requests: the client times out.

        In process, the transport raises ``httpx.ReadTimeout`` at once (after the
        latency); the ASGI app answers nothing until the client disconnects.

        Args:
            n: How many requests.
            after_close: Process the request first and lose only the answer.
        """
        self._faults.schedule(Fault(kind=FaultKind.TIMEOUT, after_close=after_close), n)

    def set_fault_rates(
        self,
        *,
        service_unavailable: float = 0.0,
        http_502: float = 0.0,
        malformed: float = 0.0,
        drop: float = 0.0,
        timeout: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """Fail each close request not covered by a scheduled fault at random.

        Each rate is the probability of that fault for one request; they add up to at
        most 1. Calling it again replaces the rates; all zero turns them off.

        Args:
            service_unavailable: ``50003`` "service not available" answers.
            http_502: HTTP 502 answers with an HTML page.
            malformed: HTTP 200 answers with a truncated body.
            drop: Dropped connections.
            timeout: Requests never answered.
            seed: Seed of the draws, for a reproducible sequence of faults.

        Example:
            >>> fake = FakeOPay()
            >>> fake.set_fault_rates(service_unavailable=0.2, http_502=0.02, seed=1)
        """
        self._faults.set_rates(
            [
                (service_unavailable, Fault(kind=FaultKind.API_ERROR)),
                (http_502, Fault(kind=FaultKind.HTTP_ERROR)),
                (malformed, Fault(kind=FaultKind.MALFORMED)),
                (drop, Fault(kind=FaultKind.DROP)),
                (timeout, Fault(kind=FaultKind.TIMEOUT)),
            ],
            seed,
        )

    def clear_faults(self) -> None:
        """Forget every scheduled fault and fault rate."""
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many scheduled faults have not been used yet."""
        return self._faults.pending

    @property
    def latency(self) -> float:
        """Seconds the simulator waits before answering (the mean when random).

        Example:
            >>> fake = FakeOPay()
            >>> fake.latency = 0.005
        """
        low, high = self._latency
        return (low + high) / 2

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.set_latency(seconds)

    def set_latency(self, minimum: float, maximum: float | None = None) -> None:
        """Wait ``minimum`` seconds before answering, or a random time up to ``maximum``.

        The wait is a real ``asyncio.sleep`` (client timeouts run on real time), drawn
        from a generator seeded with 0, so a run's latencies are reproducible.
        """
        high = minimum if maximum is None else maximum
        if not 0 <= minimum <= high:
            raise OPayValidationError(
                "latency", f"needs 0 <= minimum <= maximum, got {minimum!r}, {high!r}"
            )
        self._latency = (minimum, high)

    # -- requests seen ---------------------------------------------------------------

    def reset_requests(self) -> None:
        """Forget the requests seen: empties :attr:`requests`, zeroes :attr:`request_count`.

        Payments and :attr:`closed_count` are left as they are.
        """
        self.requests.clear()
        self.request_count = 0

    # -- handling requests -------------------------------------------------------------

    async def respond(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Wait the configured latency, then answer the request (see :meth:`handle`)."""
        low, high = self._latency
        if high > 0:
            await asyncio.sleep(low if low == high else self._random.uniform(low, high))
        return self.handle(method, path, headers, body)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request at once, without latency.

        Args:
            method: The HTTP method.
            path: The URL path.
            headers: The headers, looked up by lower-case name (``httpx.Headers`` works).
            body: The raw body bytes.
        """
        self.request_count += 1
        if path != CLOSE_PATH:
            return self._seen(method, path, headers, body, reply=_NOT_FOUND)
        if method != "POST":
            return self._seen(method, path, headers, body, reply=_NOT_ALLOWED)
        verified = headers.get("merchantid") == self.merchant_id and self._signature_ok(
            headers.get("authorization"), body
        )
        payload = _parse_object(body)
        fault = self._faults.next()
        if fault is not None and not fault.after_close:
            reply = self._fault_reply(fault)
        else:
            if not verified:
                reply = _AUTHENTICATION_FAILED
            elif payload is None or not _valid_close(payload):
                reply = _PARAMS_NOT_VALID
            else:
                reply = self._close(payload)
            if fault is not None:  # processed, but the answer is lost
                reply = self._fault_reply(fault)
        return self._seen(
            method,
            path,
            headers,
            body,
            payload=payload,
            verified=verified,
            reply=reply,
            fault=fault,
        )

    def _seen(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        payload: dict[str, Any] | None = None,
        verified: bool = False,
        reply: Reply,
        fault: Fault | None = None,
    ) -> Reply:
        if self._record:
            requests = self.requests
            requests.append(
                SeenRequest(
                    method=method,
                    path=path,
                    merchant_id=headers.get("merchantid"),
                    authorization=headers.get("authorization"),
                    content_type=headers.get("content-type"),
                    body=body,
                    json=payload,
                    verified=verified,
                    status=0 if reply.fault else reply.status,
                    code=reply.code,
                    fault=None if fault is None else fault.kind,
                )
            )
            if self._trim_at is not None and len(requests) > self._trim_at:
                assert self._record_limit is not None
                del requests[: len(requests) - self._record_limit]
        return reply

    def _signature_ok(self, given: str | None, body: bytes) -> bool:
        if given is None or not given.startswith("Bearer "):
            return False
        expected = hmac.new(self._key, body, hashlib.sha512).hexdigest()
        return hmac.compare_digest(expected.encode(), given[7:].encode())

    def _close(self, payload: dict[str, Any]) -> Reply:
        reference: str | None = payload.get("reference")
        order_no: str | None = payload.get("orderNo")
        country: str = payload["country"]
        record = self._find(reference, order_no)
        if record is None and self.auto_create and self._unknown(reference, order_no):
            record = self._store(
                reference or f"auto-{order_no}", order_no, country, None, OrderStatus.INITIAL
            )
        if record is None or record.country != country:
            return _PAYMENT_NOT_FOUND
        if record.status is OrderStatus.SUCCESS:
            return _ALREADY_PAID
        if record.status in _CLOSABLE:
            record.status = OrderStatus.CLOSE
            self.closed_count += 1
        data: dict[str, Any] = {
            "reference": record.reference,
            "orderNo": record.order_no,
            "country": record.country,
            "amount": {"total": record.amount.total, "currency": record.amount.currency},
            "orderStatus": record.status.value,
        }
        return _json_reply({"code": "00000", "message": "SUCCESSFUL", "data": data})

    def _unknown(self, reference: str | None, order_no: str | None) -> bool:
        """Whether neither identifier names a stored payment (auto-create may make one)."""
        return (reference is None or reference not in self._by_reference) and (
            order_no is None or order_no not in self._by_order_no
        )

    @staticmethod
    def _fault_reply(fault: Fault) -> Reply:
        if fault.kind is FaultKind.API_ERROR:
            return _error(fault.code, fault.message)
        if fault.kind is FaultKind.HTTP_ERROR:
            headers = (("retry-after", fault.retry_after),) if fault.retry_after else ()
            return Reply(
                status=fault.status,
                body=fault.body.encode(),
                content_type=fault.content_type,
                headers=headers,
            )
        if fault.kind is FaultKind.MALFORMED:
            return _TRUNCATED
        return Reply(status=0, body=b"", fault=fault.kind)

    # -- ways to reach it ----------------------------------------------------------------

    @property
    def transport(self) -> FakeTransport:
        """An ``httpx.AsyncBaseTransport`` answering from this simulator, in process.

        Example:
            ```python
            http = httpx.AsyncClient(transport=fake.transport)
            opay = OPayClient(fake.merchant_id, fake.secret_key, http_client=http)
            ```
        """
        if self._transport is None:
            from ._transport import FakeTransport  # noqa: PLC0415 (import cycle)

            self._transport = FakeTransport(self)
        return self._transport

    @property
    def app(self) -> ASGIApp:
        """This simulator as a plain ASGI 3 application (``httpx.ASGITransport``, servers).

        Example:
            ```python
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app))
            ```
        """
        if self._app is None:
            from ._asgi import asgi_app  # noqa: PLC0415 (import cycle)

            self._app = asgi_app(self)
        return self._app

    def client(self, **options: Any) -> OPayClient:
        """An ``OPayClient`` wired to this simulator, with its merchant id and key.

        The client sends through :attr:`transport` on an ``httpx.AsyncClient`` of its own,
        which it closes when it is closed: use it as ``async with fake.client() as opay``.

        Args:
            **options: More ``OPayClient`` arguments (``retry=``, ``retry_budget=``,
                ``timeout=``, ``base_url=`` ...), but not ``http_client`` or
                ``transport``.

        Example:
            ```python
            async with fake.client(retry=RetryPolicy(attempts=5)) as opay:
                await opay.close_payment(reference="SHOP-1", country="EG")
            ```
        """
        return OPayClient(self.merchant_id, self._secret_key, transport=self.transport, **options)

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncGenerator[str, None]:
        """Serve the simulator over real HTTP with uvicorn while the block runs.

        Needs the ``simulator`` extra (``pip install 'opay-async[simulator]'``).

        Args:
            host: The address to listen on (loopback by default: the SDK sends ``http://``
                only to a loopback host).
            port: The port; ``0`` picks a free one.

        Yields:
            The base URL, e.g. ``"http://127.0.0.1:54321"``, for ``OPayClient(base_url=)``.

        Raises:
            OPayValidationError: uvicorn is not installed, or the port cannot be bound.

        Example:
            ```python
            async with fake.serve() as base_url:
                async with OPayClient(fake.merchant_id, fake.secret_key, base_url=base_url) as opay:
                    await opay.close_payment(reference="SHOP-1", country="EG")
            ```
        """
        from ._server import serving  # noqa: PLC0415 (optional extra)

        async with serving(self.app, host, port) as base_url:
            yield base_url
