"""``OPayClient``: the async client for OPay's Cancel Payment API (its public face).

The client checks its settings, owns (or borrows) the connection pool, and hands every
close to its `Sender`, the one send path.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Unpack

import attrs

from ._budget import RetryBudget
from ._bulk_methods import BulkMethods
from ._environment import Environment, Router, check_environment
from ._errors import OPayError
from ._http import Backend, check_base_url
from ._outcome import CloseOutcome
from ._payment import Payment
from ._request import CloseRequest
from ._retry import RetryPolicy
from ._secret import SecretKey
from ._sending import Sender
from ._settings import (
    ClientOptions,
    MerchantIdInput,
    check_instance,
    check_timeout,
    environment_options,
    make_sender,
)

if TYPE_CHECKING:
    import httpx2
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["OPayClient"]

logging.getLogger("opay_async").addHandler(logging.NullHandler())  # output is the app's


class OPayClient(BulkMethods):
    """Async client for OPay's Cancel Payment API.

    Use it as an async context manager, or call
    [`aclose()`][opay_async.OPayClient.aclose] when done. One client is meant to live as
    long as the application: it keeps connections warm and holds the retry budget shared
    by all its calls. It works from any event loop: its own pool keeps connections per
    loop and process, closed when that loop ends (a forked child opens its own).

    Args:
        merchant_id: OPay merchant id, its digits (``MerchantId`` header); never a key.
        secret_key: The merchant's secret key (``OPAYPRV...``), a ``str`` or a
            [`SecretKey`][opay_async.SecretKey]; surrounding whitespace is stripped.
        environment: ``"sandbox"`` or ``"production"``; picks OPay's hosts, per country.
        base_url: Send every request to this host instead (a simulator, a gateway):
            ``https://``, or ``http://`` on a loopback host; whitespace around is stripped.
        timeout: Seconds one attempt may take in all, up to 86400 (connecting: 5 s at
            most); ``None``: 30, or with ``http_client`` that client's own timeouts (the
            retry policy's ``timeout`` still bounds each call).
        retry: The retry policy; ``None`` for the default ``RetryPolicy()``.
        retry_budget: The client-wide retry budget; ``None`` turns it off.
        http_client: An ``httpx2.AsyncClient`` (or a legacy ``httpx.AsyncClient``) of yours
            to send through, with its TLS, proxies, limits and (unless ``timeout`` is
            given) timeouts; never closed by the SDK, and never following redirects for it.
        transport: An httpx2 (or legacy httpx) transport for a client the SDK makes
            around it (e.g. ``FakeOPay().transport``), closed with the client.
        backend: ``"httpx2"`` (default) or ``"aiohttp"`` (needs ``opay-async[aiohttp]``)
            for the client's own pool (not with ``http_client`` or ``transport``).
        max_connections: Connections (so requests in flight) per event loop, all routes (1-10,000).
        trust_env: Let the own pool read ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
            ``NO_PROXY``, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``, as httpx2 does.
        rate_limit: Request attempts started per second at most, across every call of
            this client (single closes, every bulk run, retries included) and of the
            clients [`with_options`][opay_async.OPayClient.with_options] derives from
            it: OPay limits a merchant, not a call. ``None``: none; else 1/86400 to 1e6.
        tracer_provider: The OpenTelemetry ``TracerProvider`` of the SDK's spans
            (``opay-async[otel]``); ``None``: the global one, if any is set.
        meter_provider: The OpenTelemetry ``MeterProvider`` of the SDK's metrics; ``None``:
            the global one, if any is set.

    Raises:
        OPayValidationError: A bad argument; nothing has been sent.

    Examples:
        ```python
        async with OPayClient(merchant_id="256612345678901", secret_key=key) as opay:
            payment = await opay.close_payment(reference="65316571001", country="EG")
            print(payment.order_status)  # OrderStatus.CLOSE
        ```
    """

    def __init__(
        self,
        merchant_id: str,
        secret_key: str | SecretKey,
        *,
        environment: Environment = "sandbox",
        base_url: str | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudget | None = RetryBudget(),  # noqa: B008 (frozen value)
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        backend: Backend = "httpx2",
        max_connections: int = 100,
        trust_env: bool = True,
        rate_limit: float | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        secret_key, given, merchant_id = SecretKey(secret_key), MerchantIdInput(merchant_id), ""
        self._merchant_id = given.check()
        base = None if base_url is None else check_base_url(base_url)
        self._router = Router(check_environment(environment), base)
        self._sender = make_sender(
            self._merchant_id,
            secret_key.check(),
            self._router,
            timeout=timeout,
            retry=retry,
            retry_budget=retry_budget,
            http_client=http_client,
            transport=transport,
            backend=backend,
            max_connections=max_connections,
            trust_env=trust_env,
            rate_limit=rate_limit,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        self._closed = False
        self._origin: OPayClient | None = None  # the client with_options derived this from

    @classmethod
    def from_env(cls, **overrides: Unpack[ClientOptions]) -> OPayClient:
        """A client configured from the environment, with ``overrides`` taking precedence.

        Reads ``OPAY_MERCHANT_ID``, ``OPAY_SECRET_KEY``, ``OPAY_ENVIRONMENT`` (default
        ``sandbox``) and ``OPAY_BASE_URL``. Surrounding whitespace is stripped from each
        (a CRLF ``.env`` file leaves a carriage return), and a variable that is empty
        counts as unset.

        Raises:
            OPayValidationError: A required variable is missing or a value is bad.

        Examples:
            ```python
            async with OPayClient.from_env(timeout=10.0) as opay:
                ...
            ```
        """
        if "secret_key" in overrides:  # first: no frame of ours shows the key from here on
            overrides["secret_key"] = SecretKey(overrides["secret_key"])
        return cls(**environment_options(overrides))  # pyright: ignore[reportCallIssue]

    async def __aenter__(self) -> OPayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def with_options(
        self, *, timeout: float | None = None, retry: RetryPolicy | None = None
    ) -> OPayClient:
        """A client sending with other settings, sharing this one's connections and limits.

        The new client uses this client's connection pool, retry budget and client-wide
        rate limit, so its calls count against the same limits; only how it sends
        differs. Closing it does not close the pool (closing this client does, for both).

        Args:
            timeout: Seconds one attempt may take; this client's by default.
            retry: The retry policy; this client's by default.

        Raises:
            OPayValidationError: A bad argument.
            OPayError: This client is closed.

        Examples:
            ```python
            opay = OPayClient.from_env(rate_limit=50)
            # A request handler: answer fast, never wait for a retry.
            interactive = opay.with_options(timeout=2.0, retry=RetryPolicy.none())
            # The nightly job: patient retries, the same 50 attempts/s for both.
            nightly = opay.with_options(retry=RetryPolicy(attempts=8, timeout=600))
            ```
        """
        sender = self._sender_if_open()
        if timeout is not None:
            sender = sender.with_timeout(check_timeout(timeout))
        if retry is not None:
            policy = check_instance("retry", retry, RetryPolicy) or sender.retry
            sender = attrs.evolve(sender, retry=policy)
        derived = object.__new__(OPayClient)  # nothing to build: everything is shared
        derived.__dict__.update(vars(self), _sender=sender, _closed=False)
        derived._origin = self._origin or self
        return derived

    async def aclose(self) -> None:
        """Close the client's own connection pool; a borrowed ``http_client`` stays open.

        A client made by [`with_options`][opay_async.OPayClient.with_options] closes
        nothing but itself. A closed client raises
        [`OPayError`][opay_async.OPayError] when it is used.
        """
        self._closed = True
        if self._origin is None and self._sender.exchange.owned:
            await self._sender.exchange.connections.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether [`aclose()`][opay_async.OPayClient.aclose] was called."""
        return self._closed

    @property
    def merchant_id(self) -> str:
        """The merchant id requests are sent for."""
        return self._merchant_id

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy of this client."""
        return self._sender.retry

    @property
    def retry_tokens(self) -> int | None:
        """Tokens left in the retry budget (``None`` when there is no budget)."""
        bucket = self._sender.bucket
        return None if bucket is None else bucket.tokens

    def __repr__(self) -> str:
        # getattr: a traceback rendered with locals calls this on a half-built client too.
        router = getattr(self, "_router", None)
        where = "" if router is None else f", {repr(router)[len('Router(') : -1]}"
        return f"OPayClient(merchant_id={getattr(self, '_merchant_id', None)!r}{where})"

    def _sender_if_open(self) -> Sender:
        """The sender, or an ``OPayError`` when this client (or what it sends with) is closed."""
        if self._closed:
            raise OPayError("the OPayClient is closed")
        if self._origin is not None and self._origin.is_closed:
            raise OPayError("the OPayClient this one was derived from (with_options) is closed")
        if self._sender.exchange.connections.is_closed:
            raise OPayError("the http_client given to this OPayClient is closed")
        return self._sender

    def url_for(self, country: str) -> str:
        """The full URL a close for ``country`` is sent to.

        Examples:
            >>> OPayClient("256612345678901", "OPAYPRV_x").url_for("NG")
            'https://testapi.opaycheckout.com/api/v1/international/payment/close'
        """
        return self._router(country)

    async def close_payment(
        self,
        *,
        reference: str | None = None,
        order_no: str | None = None,
        country: str,
    ) -> Payment:
        """Cancel an unpaid payment, named by ``reference`` and/or ``order_no``.

        It returns only a payment OPay reports closed (``CLOSE``). Closing is idempotent:
        closing a closed payment answers it as closed again. A payment the customer paid
        cannot be closed: it raises
        [`PaymentAlreadyPaidError`][opay_async.PaymentAlreadyPaidError]; refund it instead.

        Args:
            reference: The merchant's order number.
            order_no: OPay's order number.
            country: ISO 3166-1 alpha-2 code of the payment, e.g. ``"EG"``.

        Returns:
            The payment as OPay reports it; ``order_status`` is ``CLOSE`` once closed.

        Raises:
            OPayValidationError: Bad arguments (nothing was sent).
            OPayAPIError: OPay answered a business error (a subclass per code).
            OPayHTTPError: A non-2xx answer without an OPay JSON answer.
            OPayResponseError: An answer that is not what a success must be.
            OPayConnectionError: The request could not be sent or answered in time.
            PaymentAlreadyPaidError: OPay reports the payment paid (``SUCCESS``).
            PaymentNotClosedError: OPay reports another state than ``CLOSE``.
            OPayError: The client is closed.

        Examples:
            ```python
            payment = await opay.close_payment(reference="65316571001", country="EG")
            assert payment.is_closed
            ```
        """
        request = CloseRequest(reference=reference, order_no=order_no, country=country)
        outcome = await self._sender_if_open().send(request)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.payment is not None
        return outcome.payment

    async def try_close(self, request: CloseRequest) -> CloseOutcome:
        """Close ``request`` and report what happened instead of raising what OPay answered.

        Returns:
            A [`CloseOutcome`][opay_async.CloseOutcome] with the payment or the error.

        Raises:
            OPayError: The client is closed.

        Examples:
            `outcome = await opay.try_close(CloseRequest(reference="A1", country="EG"))`
        """
        return await self._sender_if_open().send(request)
