"""``OPayClient``: the async client for OPay's Cancel Payment API."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Final, TypedDict, TypeVar, Unpack

import httpx
from tenacity import RetryCallState

from ._auth import OPaySignatureAuth
from ._budget import RetryBudget, TokenBucket
from ._bulk import CloseInput, ProgressCallback, close_many, iter_close_many
from ._clock import current_clock
from ._connections import CONNECT_TIMEOUT, Backend, own_http_client
from ._environment import (
    CLOSE_PATH,
    Environment,
    base_url_for,
    check_base_url,
    check_environment,
)
from ._errors import (
    OPayError,
    OPayValidationError,
)
from ._failures import opay_error_for
from ._outcome import CloseOutcome
from ._payment import Payment
from ._reading import ACCEPT_ENCODING, read_answer
from ._request import CloseRequest
from ._retry import RetryPolicy, new_retrying
from ._secret import SecretKey
from ._validation import number
from ._version import __version__
from ._wire import parse_close_answer

__all__ = ["Backend", "OPayClient"]

logger: Final = logging.getLogger("opay_async")
logger.addHandler(logging.NullHandler())  # a library leaves output to the application

_T = TypeVar("_T")

#: Seconds one attempt (connect, send, answer) may take in all.
DEFAULT_TIMEOUT: Final = 30.0

_HEADERS: Final = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Accept-Encoding": ACCEPT_ENCODING,
    "User-Agent": f"opay-async/{__version__}",
}

BeforeAttempt = Callable[[], Awaitable[None]]


class _ClientOptions(TypedDict, total=False):
    merchant_id: str
    secret_key: str | SecretKey
    environment: Environment
    base_url: str | None
    timeout: float
    retry: RetryPolicy | None
    retry_budget: RetryBudget | None
    http_client: httpx.AsyncClient | None
    transport: httpx.AsyncBaseTransport | None
    backend: Backend
    max_connections: int
    trust_env: bool


def _check_merchant_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OPayValidationError("merchant_id", "must be a non-empty string")
    value = value.strip()  # what a CRLF .env file leaves
    if not (value.isascii() and value.isprintable()) or " " in value:
        raise OPayValidationError(
            "merchant_id", f"must be printable ASCII without spaces, got {value!r}"
        )
    return value


def _check_instance(field: str, value: object, kind: type[_T]) -> _T | None:
    if value is None or isinstance(value, kind):
        return value
    raise OPayValidationError(field, f"must be a {kind.__name__} or None, got {value!r}")


def _variable(name: str) -> str | None:
    """The environment variable ``name`` without surrounding whitespace; ``None`` if blank."""
    return os.environ.get(name, "").strip() or None


class OPayClient:
    """Async client for OPay's Cancel Payment API.

    Use it as an async context manager, or call :meth:`aclose` when done. One client
    is meant to live as long as the application: it keeps connections warm and holds
    the retry budget shared by all its calls.

    Args:
        merchant_id: OPay merchant id (sent as the ``MerchantId`` header).
        secret_key: The merchant's secret key (``OPAYPRV...``), used to sign bodies: a
            ``str`` or a :class:`SecretKey`. Surrounding whitespace is stripped.
        environment: ``"sandbox"`` or ``"production"``; picks OPay's hosts, per country.
        base_url: Send every request to this host instead (a simulator, a proxy).
            Must be ``https://`` unless its host is loopback.
        timeout: Seconds one attempt may take in all (connecting alone: 5 s at most).
        retry: The retry policy; ``None`` for the default ``RetryPolicy()``.
        retry_budget: The client-wide retry budget; ``None`` turns it off.
        http_client: An ``httpx.AsyncClient`` of yours to send through. It stays
            yours: the client never closes it, and its settings (TLS, proxies,
            limits) are used as they are.
        transport: An ``httpx`` transport for the client's own ``httpx.AsyncClient``
            (e.g. ``FakeOPay().transport`` or ``httpx.MockTransport``); the client
            closes it with itself.
        backend: ``"httpx"`` (default) or ``"aiohttp"`` (needs ``opay-async[aiohttp]``)
            for the client's own connection pool. Ignored with ``http_client`` or
            ``transport``.
        max_connections: Connections the client's own pool may open.
        trust_env: Let the client's own pool read ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
            ``ALL_PROXY`` / ``NO_PROXY`` and ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` from the
            environment, as httpx does. Ignored with ``http_client`` or ``transport``.

    Raises:
        OPayValidationError: A bad argument; nothing has been sent.

    Example:
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
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudget | None = RetryBudget(),  # noqa: B008 (frozen value)
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        backend: Backend = "httpx",
        max_connections: int = 100,
        trust_env: bool = True,
    ) -> None:
        secret_key = SecretKey(secret_key)  # first: no frame of ours shows the key from here on
        self._merchant_id = _check_merchant_id(merchant_id)
        self._auth = OPaySignatureAuth(self._merchant_id, secret_key.check())
        self._environment: Environment = check_environment(environment)
        self._base_url = None if base_url is None else check_base_url(base_url)
        self._timeout = float(number("timeout", timeout, above=0))
        self._http_timeout = httpx.Timeout(
            self._timeout, connect=min(CONNECT_TIMEOUT, self._timeout)
        )
        self._retry = _check_instance("retry", retry, RetryPolicy) or RetryPolicy()
        budget = _check_instance("retry_budget", retry_budget, RetryBudget)
        self._bucket = None if budget is None else TokenBucket(budget)
        max_connections = number("max_connections", max_connections, integer=True, at_least=1)
        self._urls: dict[str, str] = {}
        if http_client is not None and transport is not None:
            raise OPayValidationError("transport", "give http_client or transport, not both")
        if http_client is None:
            self._http = own_http_client(
                backend=backend,
                max_connections=max_connections,
                trust_env=trust_env,
                transport=transport,
            )
            self._owns_http = True
        else:
            self._http = http_client
            self._owns_http = False
        self._closed = False

    @classmethod
    def from_env(cls, **overrides: Unpack[_ClientOptions]) -> OPayClient:
        """A client configured from the environment, with ``overrides`` taking precedence.

        Reads ``OPAY_MERCHANT_ID``, ``OPAY_SECRET_KEY``, ``OPAY_ENVIRONMENT`` (default
        ``sandbox``) and ``OPAY_BASE_URL``. Surrounding whitespace is stripped from each
        (a CRLF ``.env`` file leaves a carriage return), and a variable that is empty counts as
        unset.

        Raises:
            OPayValidationError: A required variable is missing or a value is bad.

        Example:
            ```python
            async with OPayClient.from_env(timeout=10.0) as opay:
                ...
            ```
        """
        if "secret_key" in overrides:  # first: no frame of ours shows the key from here on
            overrides["secret_key"] = SecretKey(overrides["secret_key"])
        options: _ClientOptions = {}
        key = _variable("OPAY_SECRET_KEY")
        if key is not None:
            options["secret_key"] = SecretKey(key)
        del key
        merchant_id = _variable("OPAY_MERCHANT_ID")
        if merchant_id is not None:
            options["merchant_id"] = merchant_id
        environment = _variable("OPAY_ENVIRONMENT")
        if environment is not None:
            options["environment"] = check_environment(environment.lower())
        base_url = _variable("OPAY_BASE_URL")
        if base_url is not None:
            options["base_url"] = base_url
        options.update(overrides)
        for field, variable in (
            ("merchant_id", "OPAY_MERCHANT_ID"),
            ("secret_key", "OPAY_SECRET_KEY"),
        ):
            if field not in options:
                raise OPayValidationError(field, f"set the {variable} environment variable")
        return cls(**options)  # pyright: ignore[reportCallIssue]

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> OPayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's own connection pool; a borrowed ``http_client`` stays open."""
        self._closed = True
        if self._owns_http:
            await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def merchant_id(self) -> str:
        """The merchant id requests are sent for."""
        return self._merchant_id

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy of this client."""
        return self._retry

    @property
    def retry_tokens(self) -> int | None:
        """Tokens left in the retry budget (``None`` when there is no budget)."""
        return None if self._bucket is None else self._bucket.tokens

    def __repr__(self) -> str:
        # getattr: a traceback rendered with locals calls this on a half-built client too.
        base_url = getattr(self, "_base_url", None)
        where = (
            f"base_url={base_url!r}"
            if base_url
            else f"environment={getattr(self, '_environment', None)!r}"
        )
        return f"OPayClient(merchant_id={getattr(self, '_merchant_id', None)!r}, {where})"

    # -- closing one payment ---------------------------------------------------------

    def url_for(self, country: str) -> str:
        """The full URL a close for ``country`` is sent to.

        Example:
            >>> OPayClient("256612345678901", "OPAYPRV_x").url_for("NG")
            'https://testapi.opaycheckout.com/api/v1/international/payment/close'
        """
        url = self._urls.get(country)
        if url is None:
            base = self._base_url or base_url_for(self._environment, country)
            url = self._urls[country] = base + CLOSE_PATH
        return url

    async def close_payment(
        self,
        *,
        reference: str | None = None,
        order_no: str | None = None,
        country: str,
    ) -> Payment:
        """Cancel an unpaid payment, named by ``reference`` and/or ``order_no``.

        Closing is idempotent: closing a closed payment answers it as closed again.
        A payment already paid cannot be closed; refund it instead.

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

        Example:
            ```python
            payment = await opay.close_payment(reference="65316571001", country="EG")
            assert payment.is_closed
            ```
        """
        request = CloseRequest(reference=reference, order_no=order_no, country=country)
        result, _ = await self._execute(request)
        if isinstance(result, OPayError):
            raise result
        return result

    async def close(self, request: CloseRequest) -> CloseOutcome:
        """Close ``request`` and report what happened, without raising ``OPayError``.

        Example:
            ```python
            outcome = await opay.close(CloseRequest(reference="A1", country="EG"))
            if not outcome.ok:
                print(outcome.error)
            ```
        """
        result, attempts = await self._execute(request)
        if isinstance(result, OPayError):
            return CloseOutcome(request=request, payment=None, error=result, attempts=attempts)
        return CloseOutcome(request=request, payment=result, error=None, attempts=attempts)

    async def close_many(
        self,
        requests: CloseInput,
        *,
        country: str | None = None,
        concurrency: int = 10,
        rate_limit: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[CloseOutcome]:
        """Close many payments; return one outcome per input item, in input order.

        Failures never abort the run: each becomes an outcome with an ``error``. Items
        that fail validation become failed outcomes without being sent. Exceptions
        that are not :class:`OPayError` (bugs, in this SDK or in ``on_progress``)
        stop the run and propagate.

        Args:
            requests: An iterable or async iterable of :class:`CloseRequest` or of
                plain reference strings (then ``country`` is required).
            country: The country of plain reference strings.
            concurrency: Requests in flight at most (and at once, when there is work).
            rate_limit: Request attempts started per second at most, retries included.
            on_progress: Called with each outcome as it completes (e.g. a progress bar).

        Returns:
            The outcomes, ``outcomes[i]`` for ``requests[i]``. Holds N outcomes: for
            inputs too large to keep, use :meth:`iter_close_many`.

        Example:
            ```python
            outcomes = await opay.close_many(stale_references, country="EG", concurrency=20)
            failed = [o for o in outcomes if not o.ok]
            ```
        """
        return await close_many(
            self,
            requests,
            country=country,
            concurrency=concurrency,
            rate_limit=rate_limit,
            on_progress=on_progress,
        )

    def iter_close_many(
        self,
        requests: CloseInput,
        *,
        country: str | None = None,
        concurrency: int = 10,
        rate_limit: float | None = None,
    ) -> AsyncIterator[CloseOutcome]:
        """Close many payments; yield each outcome as it completes (completion order).

        The input is pulled lazily by ``concurrency`` workers, so memory stays
        proportional to ``concurrency`` however long the input is. ``outcome.index``
        gives each outcome's position in the input. Leaving the loop early (or
        cancelling the task) cancels the requests in flight; close the iterator
        promptly with ``contextlib.aclosing`` when you may leave early.

        Args:
            requests: As for :meth:`close_many`.
            country: As for :meth:`close_many`.
            concurrency: As for :meth:`close_many`.
            rate_limit: As for :meth:`close_many`.

        Example:
            ```python
            async with contextlib.aclosing(opay.iter_close_many(rows, country="NG")) as outcomes:
                async for outcome in outcomes:
                    await db.mark(outcome.request, outcome.ok)
            ```
        """
        return iter_close_many(
            self, requests, country=country, concurrency=concurrency, rate_limit=rate_limit
        )

    async def _execute(
        self, request: CloseRequest, *, before_attempt: BeforeAttempt | None = None
    ) -> tuple[Payment | OPayError, int]:
        """Close ``request`` with retries; return the payment or the final error.

        Args:
            request: What to close.
            before_attempt: Awaited before every attempt (e.g. a rate limiter).
        """
        if self._closed or self._http.is_closed:
            which = "OPayClient" if self._closed else "http_client given to this OPayClient"
            return (
                OPayError(
                    f"the {which} is closed",
                    reference=request.reference,
                    order_no=request.order_no,
                ),
                0,
            )
        body = request.body()
        url = self.url_for(request.country)
        clock = current_clock()
        deadline = clock.now() + self._retry.timeout
        # Fast path: the first attempt runs outside tenacity, whose machinery costs about
        # a third of the SDK's own CPU per request; only a retryable failure pays for it.
        try:
            if before_attempt is not None:
                await before_attempt()
            payment = await self._attempt(request, body, url, 1, deadline - clock.now())
        except OPayError as error:
            if not error.retryable or self._retry.attempts == 1:
                return error, 1
            return await self._retry_after(
                error, request, body=body, url=url, deadline=deadline, before_attempt=before_attempt
            )
        if self._bucket is not None:
            self._bucket.refund()
        return payment, 1

    async def _retry_after(
        self,
        first_error: OPayError,
        request: CloseRequest,
        *,
        body: bytes,
        url: str,
        deadline: float,
        before_attempt: BeforeAttempt | None,
    ) -> tuple[Payment | OPayError, int]:
        """Retry with tenacity after a retryable first attempt failed with ``first_error``."""
        clock = current_clock()
        retrying = new_retrying(
            self._retry,
            clock=clock,
            deadline=deadline,
            bucket=self._bucket,
            before_sleep=self._log_retry,
        )
        attempt_number = 1
        payment: Payment | None = None
        try:
            async for attempt in retrying:
                attempt_number = attempt.retry_state.attempt_number
                with attempt:
                    if attempt_number == 1:
                        raise first_error  # tenacity's attempt 1 is the one already made
                    if before_attempt is not None:
                        await before_attempt()
                    payment = await self._attempt(
                        request, body, url, attempt_number, deadline - clock.now()
                    )
        except OPayError as error:
            return error, attempt_number
        if self._bucket is not None:
            self._bucket.refund()
        assert payment is not None  # tenacity only ends the loop quietly after a success
        return payment, attempt_number

    async def _attempt(
        self, request: CloseRequest, body: bytes, url: str, attempt: int, remaining: float
    ) -> Payment:
        started = time.perf_counter()
        try:
            # One deadline over connecting, sending and reading: a server that drips its
            # answer a byte at a time cannot hold an attempt past it.
            async with asyncio.timeout(min(self._timeout, max(remaining, 0.0))):
                sent = self._http.build_request(
                    "POST", url, content=body, headers=_HEADERS, timeout=self._http_timeout
                )
                response = await self._http.send(sent, auth=self._auth, stream=True)
                try:
                    content = await read_answer(response, **request.identity())
                finally:
                    await response.aclose()
            payment = parse_close_answer(
                response.status_code, response.headers.get("retry-after"), content, request
            )
        except BaseException as caught:
            error = opay_error_for(caught, request)
            if error is None:
                raise  # CancelledError and genuine bugs propagate untouched
            if logger.isEnabledFor(logging.DEBUG):
                self._log_attempt(request, attempt, started, repr(error))
            raise error from error.__cause__
        if logger.isEnabledFor(logging.DEBUG):
            self._log_attempt(request, attempt, started, payment.raw_order_status)
        return payment

    @staticmethod
    def _log_attempt(request: CloseRequest, attempt: int, started: float, outcome: str) -> None:
        logger.debug(
            "close reference=%s order_no=%s attempt=%d outcome=%s elapsed_ms=%.1f",
            request.reference,
            request.order_no,
            attempt,
            outcome,
            (time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _log_retry(retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        logger.warning(
            "retrying close after attempt %d failed: %s; waiting %.2fs",
            retry_state.attempt_number,
            error,
            retry_state.upcoming_sleep,
        )
