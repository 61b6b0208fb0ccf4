"""``FakeOPay``: an in-memory OPay Cancel Payment API that checks requests like the real one."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from .._client import OPayClient
from .._payment import Amount, OrderStatus, Payment
from ._admin import ADMIN_PREFIX, AdminAPI
from ._asgi import ASGIApp, asgi_app
from ._faults import BAD_GATEWAY_PAGE, SERVICE_UNAVAILABLE, Fault, FaultKind, FaultRates
from ._latency import Latency
from ._opay import DEFAULT_MERCHANT_ID, DEFAULT_SECRET_KEY, PaidAnswer, SimulatedOPay
from ._recording import SeenRequest
from ._reply import Reply
from ._server import serving
from ._transport import FakeTransport

__all__ = ["FakeOPay"]


class FakeOPay:
    """An in-process OPay Cancel Payment API for tests, demos and load tests.

    It checks requests as OPay does (path, method, ``MerchantId``, the signature over the
    raw body, the body), keeps payments and their states, injects faults on demand and
    records what it was sent. Steer it from Python, or over HTTP through its admin API
    (``/_simulator/``) and scripted ``[sim:...]`` references. The testing guide
    (docs/testing.md) describes every answer.

    Args:
        merchant_id: The merchant id it accepts (by default OPay's sample one).
        secret_key: The key it checks signatures with; never shown in ``repr``. By
            default a public, made-up key (never a real one).
        auto_create: Treat unknown payments as unpaid ones instead of answering 02006.
        record_limit: How many of the latest requests ``requests`` keeps; ``None`` keeps
            them all and ``0`` records none (for long load tests).
        paid_answer: How a close of a paid (``SUCCESS``) payment is answered:
            ``"status"``, OPay's success shape with ``orderStatus: SUCCESS`` and the
            payment unchanged (the default), or ``"error"``, ``02001`` "payment already
            paid, use the refund API.".

    Examples:
        ```python
        from opay_async import OrderStatus
        from opay_async.testing import FakeOPay

        fake = FakeOPay()
        fake.add_payment(reference="SHOP-1", country="EG")
        async with fake.client() as opay:
            payment = await opay.close_payment(reference="SHOP-1", country="EG")
        assert payment.order_status is OrderStatus.CLOSE
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
        paid_answer: PaidAnswer = "status",
    ) -> None:
        self._opay = SimulatedOPay(
            merchant_id, secret_key, auto_create, paid_answer=paid_answer, record_limit=record_limit
        )
        self._secret_key = secret_key
        self._latency = Latency()
        self._admin = AdminAPI(self._opay, self._latency)
        self._transport: FakeTransport | None = None
        self._app: ASGIApp | None = None

    def __repr__(self) -> str:
        opay = getattr(self, "_opay", None)  # also while __init__ has not finished
        if opay is None:
            return "FakeOPay(<not set up>)"
        return (
            f"FakeOPay(merchant_id={self.merchant_id!r}, secret_key=<hidden>, "
            f"payments={len(opay.ledger)}, auto_create={self.auto_create})"
        )

    @property
    def merchant_id(self) -> str:
        """The merchant id it accepts."""
        return self._opay.merchant_id

    @property
    def secret_key(self) -> str:
        """The key the simulator checks signatures with (give it to the client under test)."""
        return self._secret_key

    @property
    def auto_create(self) -> bool:
        """Whether unknown payments are created, unpaid, on their first close."""
        return self._opay.auto_create

    @auto_create.setter
    def auto_create(self, value: bool) -> None:
        self._opay.auto_create = bool(value)

    @property
    def paid_answer(self) -> PaidAnswer:
        """How a close of a paid payment is answered: ``"status"`` or ``"error"``."""
        return self._opay.paid_answer

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

        Examples:
            >>> fake = FakeOPay()
            >>> fake.add_payment(reference="SHOP-1", amount=Amount(400, "EGP")).order_no
            '211018140300000001'
        """
        return self._opay.ledger.add(
            reference=reference, order_no=order_no, country=country, amount=amount, status=status
        )

    def payment(self, *, reference: str | None = None, order_no: str | None = None) -> Payment:
        """The stored payment with this reference and/or order number, as it is now.

        Raises:
            LookupError: No such payment (or the two name different payments).
        """
        return self._opay.ledger.get(reference, order_no)

    def set_status(
        self, status: OrderStatus, *, reference: str | None = None, order_no: str | None = None
    ) -> Payment:
        """Change a stored payment's state (e.g. the customer pays it in the meantime).

        Raises:
            LookupError: No such payment.

        Examples:
            ```python
            fake.set_status(OrderStatus.SUCCESS, reference="SHOP-1")  # paid after all
            ```
        """
        return self._opay.ledger.set_status(status, reference, order_no)

    @property
    def payments(self) -> list[Payment]:
        """Every stored payment, in the order they were stored."""
        return self._opay.ledger.all()

    @property
    def closed_count(self) -> int:
        """How many payments requests have moved to ``CLOSE``."""
        return self._opay.ledger.closed_count

    def reset(self, *, settings: bool = False) -> None:
        """Start afresh: no payments, scheduled faults, requests or scripted counts.

        Args:
            settings: Also turn off the fault rates and the latency.
        """
        self._opay.reset()
        if settings:
            self._opay.faults.clear()
            self._latency.set(0)

    def fail_next(
        self, n: int = 1, *, code: str = "50003", message: str = SERVICE_UNAVAILABLE
    ) -> None:
        """Answer the next ``n`` close requests with business error ``code`` (HTTP 200).

        Examples:
            >>> FakeOPay().fail_next(2)  # two "50003 service not available" answers
        """
        self._opay.faults.schedule(Fault(kind=FaultKind.API_ERROR, code=code, message=message), n)

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
            status: The HTTP status (400 to 599).
            body: The body (by default a proxy's "502 Bad Gateway" HTML page).
            content_type: Its content type.
            retry_after: A ``Retry-After`` to send: seconds (0 to 86400) or header text.
        """
        kind = FaultKind.HTTP_ERROR
        fault = Fault(
            kind=kind, status=status, body=body, content_type=content_type, retry_after=retry_after
        )
        self._opay.faults.schedule(fault, n)

    def malformed_next(self, n: int = 1) -> None:
        """Answer the next ``n`` close requests with HTTP 200 and a truncated, non-JSON body."""
        self._opay.faults.schedule(Fault(kind=FaultKind.MALFORMED), n)

    def drop_next(self, n: int = 1, *, after_close: bool = False) -> None:
        """Break the connection of the next ``n`` close requests before they are answered.

        Args:
            n: How many requests.
            after_close: Process the request first (the payment closes) and lose only
                the answer: "closed, but the client never heard".
        """
        self._opay.faults.schedule(Fault(kind=FaultKind.DROP, after_close=after_close), n)

    def timeout_next(self, n: int = 1, *, after_close: bool = False) -> None:
        """Never answer the next ``n`` close requests: the client times out.

        Args:
            n: How many requests.
            after_close: Process the request first and lose only the answer.
        """
        self._opay.faults.schedule(Fault(kind=FaultKind.TIMEOUT, after_close=after_close), n)

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

        Examples:
            >>> FakeOPay().set_fault_rates(service_unavailable=0.2, http_502=0.02, seed=1)
        """
        rates = FaultRates(
            service_unavailable=service_unavailable,
            http_502=http_502,
            malformed=malformed,
            drop=drop,
            timeout=timeout,
        )
        self._opay.faults.set_rates(rates, seed)

    @property
    def fault_rates(self) -> FaultRates:
        """The rates random faults are drawn at; set it to a ``FaultRates`` to change them."""
        return self._opay.faults.rates

    @fault_rates.setter
    def fault_rates(self, rates: FaultRates) -> None:
        self._opay.faults.set_rates(rates)

    def clear_faults(self) -> None:
        """Forget every scheduled fault and fault rate."""
        self._opay.faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many scheduled faults have not been used yet."""
        return self._opay.faults.pending

    @property
    def latency(self) -> float:
        """Seconds the simulator waits before answering (the mean when random)."""
        return self._latency.mean

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._latency.set(seconds)

    @property
    def latency_range(self) -> tuple[float, float]:
        """The latency as ``(minimum, maximum)`` seconds."""
        return self._latency.minimum, self._latency.maximum

    def set_latency(self, minimum: float, maximum: float | None = None) -> None:
        """Wait ``minimum`` seconds before answering, or a random time up to ``maximum``.

        The wait is a real ``asyncio.sleep`` (client timeouts run on real time), drawn
        from a generator seeded with 0, so a run's latencies are reproducible.
        """
        self._latency.set(minimum, maximum)

    @property
    def requests(self) -> list[SeenRequest]:
        """The requests seen (to the latest ``record_limit``), oldest first."""
        return self._opay.log.requests

    @property
    def request_count(self) -> int:
        """Requests handled since the last reset (recorded or not; admin ones excluded)."""
        return self._opay.log.count

    def reset_requests(self) -> None:
        """Forget the requests seen: empties ``requests``, zeroes ``request_count``."""
        self._opay.log.reset()

    async def respond(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Wait the latency, then answer (the responder every way in calls).

        Args:
            method: The HTTP method.
            path: The URL path (admin requests, under ``/_simulator``, do not wait).
            headers: The headers, looked up by lower-case name (``httpx2.Headers`` works).
            body: The raw body bytes.
        """
        if not _is_admin(path):
            await self._latency.wait()
        return self.handle(method, path, headers, body)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request at once, without latency (the arguments of ``respond``)."""
        if _is_admin(path):
            return self._admin.handle(method, path, body)
        return self._opay.handle(method, path, headers, body)

    @property
    def transport(self) -> FakeTransport:
        """An ``httpx2.AsyncBaseTransport`` answering from this simulator, in process."""
        if self._transport is None:
            self._transport = FakeTransport(self.respond)
        return self._transport

    @property
    def app(self) -> ASGIApp:
        """This simulator as a plain ASGI 3 application (``httpx2.ASGITransport``, servers)."""
        if self._app is None:
            self._app = asgi_app(self.respond)
        return self._app

    def client(self, **options: Any) -> OPayClient:
        """An ``OPayClient`` wired to this simulator, with its merchant id and key.

        The client sends through [`transport`][opay_async.testing.FakeOPay.transport] on
        an ``httpx2.AsyncClient`` of its own, which it closes when it is closed.

        Args:
            **options: More ``OPayClient`` arguments (``retry=``, ``timeout=`` ...), but
                not ``http_client`` or ``transport``.
        """
        return OPayClient(self.merchant_id, self._secret_key, transport=self.transport, **options)

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncGenerator[str, None]:
        """Serve the simulator over real HTTP with uvicorn while the block runs.

        Needs the ``simulator`` extra (uvicorn; from a checkout:
        ``python -m pip install -e '.[simulator]'``).

        Args:
            host: The address to listen on (loopback by default: the SDK sends ``http://``
                only to a loopback host).
            port: The port; ``0`` picks a free one (the base URL yielded names it).

        Yields:
            The base URL, e.g. ``"http://127.0.0.1:54321"``, for ``OPayClient(base_url=)``.

        Raises:
            OPayValidationError: uvicorn is not installed, or the port cannot be bound.
        """
        async with serving(self.app, host, port) as base_url:
            yield base_url


def _is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
