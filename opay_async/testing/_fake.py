"""``FakeOPay``: an in-memory OPay Cancel Payment API that checks requests like the real one."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import random
import zlib
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._client import OPayClient
from .._environment import CLOSE_PATH
from .._errors import OPayValidationError
from .._payment import Amount, OrderStatus, Payment
from .._validation import country_code
from ._faults import BAD_GATEWAY_PAGE, Fault, FaultKind, FaultPlan

if TYPE_CHECKING:
    from ._asgi import ASGIApp
    from ._transport import FakeTransport

__all__ = [
    "ALREADY_PAID_CODE",
    "DEFAULT_MERCHANT_ID",
    "DEFAULT_SECRET_KEY",
    "FakeOPay",
    "Reply",
    "SeenRequest",
]

#: The merchant id a ``FakeOPay()`` accepts by default.
DEFAULT_MERCHANT_ID: Final = "256612345678901"
#: The secret key a ``FakeOPay()`` checks signatures with by default. Not a real key.
DEFAULT_SECRET_KEY: Final = "OPAYPRV_SIMULATOR_KEY_NOT_A_SECRET"  # noqa: S105 (public test key)
#: The code answered for a close of a payment already paid (see ``FakeOPay``).
ALREADY_PAID_CODE: Final = "02001"

_CURRENCIES: Final = {"EG": "EGP", "NG": "NGN", "KE": "KES", "GH": "GHS", "ZA": "ZAR"}
_CLOSABLE: Final = frozenset({OrderStatus.INITIAL, OrderStatus.PENDING})


@attrs.frozen(kw_only=True)
class Reply:
    """What the simulator answers to one request (``fault`` set for drops and timeouts)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    fault: FaultKind | None = None
    code: str | None = None


@attrs.frozen(kw_only=True)
class SeenRequest:
    """A request the simulator received, for assertions in tests.

    Attributes:
        method: The HTTP method.
        path: The URL path.
        merchant_id: The ``MerchantId`` header, if any.
        body: The raw body bytes.
        json: The body parsed as a JSON object, or ``None``.
        verified: Whether merchant id and signature were right.
        status: The HTTP status answered (0 for a dropped connection or a timeout).
        code: OPay's ``code`` in the answer, if it was an OPay JSON answer.
        fault: The injected fault, if any.
    """

    method: str
    path: str
    merchant_id: str | None
    body: bytes = attrs.field(repr=False)
    json: dict[str, Any] | None = attrs.field(repr=False)
    verified: bool
    status: int
    code: str | None
    fault: FaultKind | None = None


@attrs.define(slots=True)
class _Record:
    reference: str | None
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


_NOT_FOUND: Final = Reply(status=404, body=b"Not Found", content_type="text/plain")
_NOT_ALLOWED: Final = Reply(status=405, body=b"Method Not Allowed", content_type="text/plain")


def _json_reply(payload: dict[str, Any]) -> Reply:
    return Reply(
        status=200, body=json.dumps(payload, separators=(",", ":")).encode(), code=payload["code"]
    )


def _error(code: str, message: str) -> Reply:
    return _json_reply({"code": code, "message": message})


def _valid_close(payload: dict[str, Any]) -> bool:
    country = payload.get("country")
    if not (isinstance(country, str) and len(country) == 2 and country.isascii()):
        return False
    identifiers = [payload.get("reference"), payload.get("orderNo")]
    return (
        country.isalpha()
        and country.isupper()
        and any(value is not None for value in identifiers)
        and all(value is None or (isinstance(value, str) and value) for value in identifiers)
    )


class FakeOPay:
    """An in-process OPay Cancel Payment API for tests, demos and load tests.

    It checks every request as OPay does: method and path, the ``MerchantId`` header, and
    the ``Authorization: Bearer <hex HMAC-SHA512 of the raw body>`` signature (compared in
    constant time); a wrong merchant or signature answers ``02000``, a body that is not a
    JSON object with a two-letter ``country`` and a ``reference`` or ``orderNo`` answers
    ``02001``.

    State machine of a close:

    - ``INITIAL`` or ``PENDING``: becomes ``CLOSE``; the answer is OPay's documented
      success shape with ``orderStatus: CLOSE``.
    - ``CLOSE``: answers ``CLOSE`` again (closing is idempotent).
    - ``FAIL``: answers ``FAIL``, unchanged (a failed payment has nothing to cancel).
    - ``SUCCESS`` (paid): answers ``02001`` "payment already paid, use the refund API".
      OPay documents no code of its own for this case; its page says a paid payment must
      be refunded instead. ``02001`` (request not valid for this payment) is the
      documented code closest to it, and what an integration must already handle.
    - unknown payment (or a country that is not the payment's): ``02006`` "payment not
      found.", unless ``auto_create=True``, which first creates any unknown payment as an
      unpaid ``INITIAL`` one (for demos and load tests).

    Faults (``fail_next``, ``fail_next_http``, ``malformed_next``, ``drop_next``,
    ``timeout_next``, ``set_fault_rates``) are decided as a request arrives, after it is
    recorded and before it is processed, so a faulted request changes no payment; except
    ``drop_next(after_close=True)`` and ``timeout_next(after_close=True)``, which close
    first and lose only the answer.

    Args:
        merchant_id: The merchant id it accepts.
        secret_key: The secret key it checks signatures with (never shown in ``repr``).
        auto_create: Treat unknown payments as unpaid ones instead of answering 02006.
        record_limit: How many of the latest requests :attr:`requests` keeps.

    Example:
        ```python
        fake = FakeOPay()
        fake.add_payment(reference="SHOP-1", country="EG", amount=Amount(400, "EGP"))
        async with fake.client() as opay:
            payment = await opay.close_payment(reference="SHOP-1", country="EG")
        assert fake.payment(reference="SHOP-1").order_status is OrderStatus.CLOSE
        ```
    """

    def __init__(
        self,
        merchant_id: str = DEFAULT_MERCHANT_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        *,
        auto_create: bool = False,
        record_limit: int = 100_000,
    ) -> None:
        if not merchant_id or not secret_key:
            raise OPayValidationError("merchant_id", "FakeOPay needs a merchant id and a key")
        self.merchant_id = merchant_id
        self._secret_key = secret_key
        self._key = secret_key.encode()
        self.auto_create = auto_create
        self.requests: deque[SeenRequest] = deque(maxlen=record_limit)
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
            f"FakeOPay(merchant_id={self.merchant_id!r}, payments={len(self._by_order_no)}, "
            f"auto_create={self.auto_create})"
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
            reference: The merchant's order number.
            order_no: OPay's order number; an 18-digit one is made up when ``None``.
            country: ISO 3166-1 alpha-2 code.
            amount: The amount; a made-up one in the country's currency when ``None``.
            status: Its state.
        """
        country = country_code(country)
        if not reference:
            raise OPayValidationError("reference", "must not be empty")
        if reference in self._by_reference:
            raise OPayValidationError("reference", f"{reference!r} already exists")
        if order_no is not None and order_no in self._by_order_no:
            raise OPayValidationError("order_no", f"{order_no!r} already exists")
        record = _Record(
            reference=reference,
            order_no=order_no or self._new_order_no(),
            country=country,
            amount=amount or self._made_up_amount(reference, country),
            status=status,
        )
        self._by_reference[reference] = record
        self._by_order_no[record.order_no] = record
        return record.snapshot()

    def payment(self, *, reference: str | None = None, order_no: str | None = None) -> Payment:
        """The stored payment with this reference or order number.

        Raises:
            LookupError: No such payment.
        """
        record = self._find(reference, order_no)
        if record is None:
            raise LookupError(f"no payment with reference={reference!r} order_no={order_no!r}")
        return record.snapshot()

    @property
    def payments(self) -> list[Payment]:
        """Every stored payment."""
        return [record.snapshot() for record in self._by_order_no.values()]

    def _new_order_no(self) -> str:
        return f"2110181403{next(self._order_numbers):08d}"

    @staticmethod
    def _made_up_amount(reference: str, country: str) -> Amount:
        total = 100 + zlib.crc32(reference.encode()) % 99_900
        return Amount(total, _CURRENCIES.get(country, "USD"))

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
        message: str = "service not available, please try again",
    ) -> None:
        """Answer the next ``n`` requests with business error ``code``."""
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
        """Answer the next ``n`` requests with an HTTP error and a non-JSON body."""
        fault = Fault(
            kind=FaultKind.HTTP_ERROR,
            status=status,
            body=body,
            content_type=content_type,
            retry_after=None if retry_after is None else str(retry_after),
        )
        self._faults.schedule(fault, n)

    def malformed_next(self, n: int = 1) -> None:
        """Answer the next ``n`` requests with HTTP 200 and a truncated, non-JSON body."""
        self._faults.schedule(Fault(kind=FaultKind.MALFORMED), n)

    def drop_next(self, n: int = 1, *, after_close: bool = False) -> None:
        """Break the connection of the next ``n`` requests before they are answered."""
        self._faults.schedule(Fault(kind=FaultKind.DROP, after_close=after_close), n)

    def timeout_next(self, n: int = 1, *, after_close: bool = False) -> None:
        """Never answer the next ``n`` requests (the client times out)."""
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
        """Fail each request not covered by a scheduled fault with these probabilities.

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
    def latency(self) -> float:
        """Seconds the simulator waits before answering (the mean when random)."""
        low, high = self._latency
        return (low + high) / 2

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.set_latency(seconds)

    def set_latency(self, minimum: float, maximum: float | None = None) -> None:
        """Wait ``minimum`` seconds before answering, or a random time up to ``maximum``."""
        high = minimum if maximum is None else maximum
        if minimum < 0 or high < minimum:
            raise OPayValidationError("latency", f"needs 0 <= minimum <= maximum, got {minimum!r}")
        self._latency = (minimum, high)

    # -- handling requests -------------------------------------------------------------

    async def respond(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Wait the configured latency, then answer the request."""
        low, high = self._latency
        if high > 0:
            await asyncio.sleep(low if low == high else self._random.uniform(low, high))
        return self.handle(method, path, headers, body)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request at once (``headers`` looked up by lower-case name)."""
        self.request_count += 1
        merchant = headers.get("merchantid")
        if path != CLOSE_PATH:
            return self._seen(method, path, merchant, body, reply=_NOT_FOUND)
        if method != "POST":
            return self._seen(method, path, merchant, body, reply=_NOT_ALLOWED)
        verified = merchant == self.merchant_id and self._signature_ok(headers, body)
        payload = self._parse(body)
        fault = self._faults.next()
        applied = fault
        if fault is not None and not fault.after_close:
            reply = self._fault_reply(fault)
        elif not verified:
            reply, applied = _error("02000", "authentication failed."), None
        elif payload is None:
            reply, applied = _error("02001", "request params not valid."), None
        else:
            reply = self._close(payload)
            if fault is not None:  # closed, but the answer is lost
                reply = self._fault_reply(fault)
        return self._seen(
            method,
            path,
            merchant,
            body,
            payload=payload,
            verified=verified,
            reply=reply,
            fault=applied.kind if applied else None,
        )

    def _seen(
        self,
        method: str,
        path: str,
        merchant: str | None,
        body: bytes,
        *,
        payload: dict[str, Any] | None = None,
        verified: bool = False,
        reply: Reply,
        fault: FaultKind | None = None,
    ) -> Reply:
        self.requests.append(
            SeenRequest(
                method=method,
                path=path,
                merchant_id=merchant,
                body=body,
                json=payload,
                verified=verified,
                status=0 if reply.fault else reply.status,
                code=reply.code,
                fault=fault,
            )
        )
        return reply

    def _signature_ok(self, headers: Mapping[str, str], body: bytes) -> bool:
        given = headers.get("authorization", "")
        if not given.startswith("Bearer "):
            return False
        expected = hmac.new(self._key, body, hashlib.sha512).hexdigest()
        return hmac.compare_digest(expected.encode(), given[7:].encode())

    @staticmethod
    def _parse(body: bytes) -> dict[str, Any] | None:
        """The body if it is a valid close request, else ``None`` (answered 02001)."""
        try:
            parsed: object = json.loads(body)
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        payload: dict[str, Any] = parsed  # pyright: ignore[reportUnknownVariableType]
        return payload if _valid_close(payload) else None

    def _close(self, payload: dict[str, Any]) -> Reply:
        reference: str | None = payload.get("reference")
        order_no: str | None = payload.get("orderNo")
        country: str = payload["country"]
        record = self._find(reference, order_no)
        if record is None and self.auto_create:
            self.add_payment(
                reference=reference or f"auto-{order_no}", order_no=order_no, country=country
            )
            record = self._find(reference, order_no)
        if record is None or record.country != country:
            return _error("02006", "payment not found.")
        if record.status is OrderStatus.SUCCESS:
            return _error(ALREADY_PAID_CODE, "payment already paid, use the refund API.")
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
            return Reply(status=200, body=b'{"code":"00000","message":"SUCC', code=None)
        return Reply(status=0, body=b"", fault=fault.kind)

    # -- ways to reach it ----------------------------------------------------------------

    @property
    def transport(self) -> FakeTransport:
        """An ``httpx.AsyncBaseTransport`` answering from this simulator, in process."""
        if self._transport is None:
            from ._transport import FakeTransport  # noqa: PLC0415 (import cycle)

            self._transport = FakeTransport(self)
        return self._transport

    @property
    def app(self) -> ASGIApp:
        """This simulator as an ASGI 3 application (for ``httpx.ASGITransport`` or a server)."""
        if self._app is None:
            from ._asgi import asgi_app  # noqa: PLC0415 (import cycle)

            self._app = asgi_app(self)
        return self._app

    def client(self, **options: Any) -> OPayClient:
        """An ``OPayClient`` wired to this simulator, with its merchant id and key.

        ``options`` go to ``OPayClient`` (``retry=``, ``retry_budget=``, ``timeout=`` ...).
        The client owns its in-process transport; close it as usual.
        """
        return OPayClient(self.merchant_id, self._secret_key, transport=self.transport, **options)

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncGenerator[str, None]:
        """Serve the simulator over real HTTP with uvicorn; yields its base URL.

        Needs the ``simulator`` extra (``pip install 'opay-async[simulator]'``). ``port=0``
        picks a free port.
        """
        from ._server import serving  # noqa: PLC0415 (optional extra)

        async with serving(self.app, host, port) as base_url:
            yield base_url

    async def serve_forever(
        self, host: str = "127.0.0.1", port: int = 8000, *, on_ready: Callable[[str], None]
    ) -> None:
        """Serve until the process is interrupted; ``on_ready`` gets the base URL."""
        from ._server import serve_until_stopped  # noqa: PLC0415 (optional extra)

        await serve_until_stopped(self.app, host, port, on_ready)
