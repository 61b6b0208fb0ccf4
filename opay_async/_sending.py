"""Sending one close: every attempt made the same way, in one loop; tenacity decides the retries.

The loop is the SDK's only send path: ``close_payment``, ``try_close`` and the bulk
methods all go through `send()`. A close that succeeds at once never touches
tenacity; at the first failure a `Retries` is made, and from
then on tenacity's own decision pipeline (retry predicate, wait, stop, the log line
before a sleep) says whether and how long to wait before the next attempt.

A bulk run hands each close its `RunStop`: a fatal answer stops the run, and each
attempt looks at it right before it is sent (before and after waiting for the rate
limits), so nothing is sent after the stop but what was already in flight.

With OpenTelemetry (``Sender.telemetry``), each close is a span, current while its
attempts are sent (HTTP instrumentation nests under it), with an event per retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

import attrs

from ._budget import TokenBucket
from ._clock import current_clock
from ._errors import OPayError
from ._http import ACCEPT_ENCODING, Exchange, opay_error_for, stopping
from ._outcome import CloseOutcome
from ._payment import Payment
from ._rate import RateLimiter
from ._request import CloseRequest
from ._retry import Retries, RetryPolicy
from ._stop import RunStop, RunStoppedError
from ._telemetry import CloseTrace, Telemetry
from ._version import __version__
from ._wire import parse_close_answer

__all__ = ["HEADERS", "Sender"]

logger: Final = logging.getLogger("opay_async")

#: The headers of every close (the signature's are added by ``OPaySignatureAuth``).
HEADERS: Final = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Accept-Encoding": ACCEPT_ENCODING,
    "User-Agent": f"opay-async/{__version__}",
}


@attrs.frozen(kw_only=True)
class Sender:
    """What sending a close needs, and the send loop itself.

    Attributes:
        exchange: Posts a signed body and reads the answer, through the client's pool
            or the caller's ``http_client``.
        url_for: The URL of a close for a country.
        timeout: Seconds one attempt may take in all (connecting: 5 s at most).
        retry: When to retry.
        bucket: The client-wide retry budget, if any.
        limiter: The client-wide rate limiter, if any.
        telemetry: Spans and metrics, when ``opentelemetry-api`` is installed.
    """

    exchange: Exchange
    url_for: Callable[[str], str]
    timeout: float
    retry: RetryPolicy
    bucket: TokenBucket | None = None
    limiter: RateLimiter | None = None
    telemetry: Telemetry | None = None

    def with_timeout(self, timeout: float) -> Sender:
        """The same sender, over the same connections and limits, with another timeout."""
        return attrs.evolve(self, timeout=timeout, exchange=self.exchange.with_timeout(timeout))

    async def send(
        self,
        request: CloseRequest,
        *,
        index: int = 0,
        limiter: RateLimiter | None = None,
        run: RunStop | None = None,
    ) -> CloseOutcome:
        """Close ``request``, retrying where safe; the outcome says how it ended.

        Args:
            request: What to close.
            index: The outcome's position in a bulk input.
            limiter: A rate limiter of the call, on top of the client's.
            run: The bulk run's stop: a fatal answer stops the run, and once it is
                stopped no attempt is sent (the outcome holds a ``RunStoppedError``).
        """
        url = self.url_for(request.country)
        if self.telemetry is None or (run is not None and run.stopped_by is not None):
            # Not sent at all in a stopped run: no close to show, only the run's count.
            return await self._send(request, url, index=index, limiter=limiter, run=run, trace=None)
        trace = self.telemetry.start_close(request, url)
        try:
            outcome = await self._send(
                request, url, index=index, limiter=limiter, run=run, trace=trace
            )
        except BaseException as stopped:  # cancelled, or a bug: the span still ends
            trace.end(None, stopped)
            raise
        trace.end(outcome)
        return outcome

    async def _send(
        self,
        request: CloseRequest,
        url: str,
        *,
        index: int,
        limiter: RateLimiter | None,
        run: RunStop | None,
        trace: CloseTrace | None,
    ) -> CloseOutcome:
        """The send loop: attempts until a payment, a final error, or the run's stop."""
        body = request.body()
        clock = current_clock()
        deadline = clock.now() + self.retry.timeout
        retries: Retries | None = None  # tenacity joins at the first failure only
        attempt = 0
        while True:
            attempt += 1
            result = await self._attempt(
                request, body, url, number=attempt, deadline=deadline, limiter=limiter, run=run,
                trace=trace,
            )  # fmt: skip
            if isinstance(result, Payment):
                if self.bucket is not None:
                    self.bucket.refund()
                return CloseOutcome(
                    request=request, payment=result, error=None, attempts=attempt, index=index
                )
            if run is not None:
                if isinstance(result, RunStoppedError):  # this attempt was not sent
                    return CloseOutcome(
                        request=request,
                        payment=None,
                        error=result,
                        attempts=attempt - 1,
                        index=index,
                    )
                if result.fatal:
                    run.stop(result)  # before anything else can send (never retried)
            retries = retries or Retries(
                self.retry,
                clock,
                deadline,
                self.bucket,
                refused=None if self.telemetry is None else self.telemetry.retry_refused,
            )
            wait = await retries.after(result)
            if wait is None:
                return CloseOutcome(
                    request=request, payment=None, error=result, attempts=attempt, index=index
                )
            if trace is not None:
                trace.retrying(attempt, result, wait)
            if run is None:
                await clock.sleep(wait)
            else:
                await run.sleep(clock, wait)  # the stop ends the wait

    async def _attempt(
        self,
        request: CloseRequest,
        body: bytes,
        url: str,
        *,
        number: int,
        deadline: float,
        limiter: RateLimiter | None,
        run: RunStop | None,
        trace: CloseTrace | None,
    ) -> Payment | OPayError:
        """One request: wait for the rate limits, send, read a bounded answer, parse it.

        In a stopped run nothing is sent: the result is a ``RunStoppedError``.
        """
        if run is not None and run.stopped_by is not None:  # no rate limit slot taken
            return run.not_sent(request, sent=number - 1)
        sleep = None if run is None else run.sleep  # a stopped run waits no longer
        if limiter is not None:
            await limiter.acquire(sleep)
        if self.limiter is not None:
            await self.limiter.acquire(sleep)
        if run is not None and run.stopped_by is not None:  # stopped while it waited its turn
            return run.not_sent(request, sent=number - 1)
        started = time.perf_counter()
        result: Payment | OPayError
        codes: list[str] = []  # OPay's code, when the answer carried one
        try:
            # One deadline over connecting, sending and reading: a server that drips its
            # answer a byte at a time cannot hold an attempt past it.
            remaining = min(self.timeout, deadline - current_clock().now())
            async with asyncio.timeout(max(remaining, 0.0)):
                answer = await self.exchange.post(url, body, **request.identity())
            result = parse_close_answer(
                answer.status_code,
                answer.retry_after,
                answer.content,
                request,
                on_code=None if trace is None else codes.append,
            )
        except BaseException as caught:
            stop = stopping(caught)
            if stop is not None and stop is not caught:
                raise stop from None  # the process is being stopped: not a failure
            error = opay_error_for(caught, request)
            if error is None:
                raise  # CancelledError and genuine bugs propagate untouched
            result = error.with_traceback(None)  # outcomes kept by the thousand hold no frames
        if trace is not None:
            trace.attempted(result, codes[0] if codes else None)
        if logger.isEnabledFor(logging.DEBUG):
            _log_attempt(request, number, result, (time.perf_counter() - started) * 1000)
        return result


def _log_attempt(
    request: CloseRequest, number: int, result: Payment | OPayError, ms: float
) -> None:
    """The debug line of one attempt; its fields also as the record's attributes."""
    outcome = result.raw_order_status if isinstance(result, Payment) else type(result).__name__
    logger.debug(
        "close reference=%s order_no=%s attempt=%d outcome=%s elapsed_ms=%.1f",
        request.reference,
        request.order_no,
        number,
        result.raw_order_status if isinstance(result, Payment) else repr(result),
        ms,
        extra={
            "opay.reference": request.reference,
            "opay.order_no": request.order_no,
            "opay.country": request.country,
            "opay.attempt": number,
            "opay.outcome": outcome,
            "opay.code": getattr(result, "code", None),
            "opay.elapsed_ms": round(ms, 3),
        },
    )
