"""What the SDK shows in OpenTelemetry: a span per close and per bulk run, and metrics.

Optional, as instrumentation libraries are: it needs ``opentelemetry-api`` (the ``otel``
extra) and nothing else. Without it, `telemetry_for` returns ``None`` and the send loop
does no more than one ``is None`` test per close. With it, spans and metrics go to the
providers given to ``OPayClient``, or to the global ones (``trace.set_tracer_provider``,
``metrics.set_meter_provider``, ``opentelemetry-instrument``), which the API's proxies
follow even when they are set after the client was made; with none configured, the API's
no-op objects cost a few microseconds a close.

Every name is documented in docs/observability.md. No key, signature or header is ever
given to OpenTelemetry: only the request's identifiers, OPay's code and state, the
error's class and message (already redacted), and the host.
"""

from __future__ import annotations

import contextvars
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from ._errors import OPayAPIError, OPayError, OPayValidationError
from ._install import install_hint
from ._not_closed import PaymentNotClosedError
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram
    from opentelemetry.trace import Span, Tracer

    from ._outcome import CloseOutcome
    from ._payment import Payment
    from ._request import CloseRequest

__all__ = ["DURATION_BUCKETS", "SCOPE", "CloseTrace", "RunTrace", "Telemetry", "telemetry_for"]

#: The instrumentation scope of every span and metric.
SCOPE: Final = "opay_async"
#: The buckets OpenTelemetry's HTTP conventions advise for a request's duration, in seconds.
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
#: The longest part of an error's message a span's status quotes.
_DESCRIPTION: Final = 200
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


def telemetry_for(tracer_provider: object, meter_provider: object) -> Telemetry | None:
    """The telemetry of a client, or ``None`` when ``opentelemetry-api`` is not installed.

    Args:
        tracer_provider: A ``TracerProvider``, or ``None`` for the global one.
        meter_provider: A ``MeterProvider``, or ``None`` for the global one.

    Raises:
        OPayValidationError: A provider was given but ``opentelemetry-api`` is missing.
    """
    try:
        from opentelemetry import metrics, trace  # noqa: PLC0415 (the optional extra)
    except ImportError:
        for field, given in (
            ("tracer_provider", tracer_provider),
            ("meter_provider", meter_provider),
        ):
            if given is not None:
                raise OPayValidationError(
                    field, f"needs opentelemetry-api, the otel extra: {install_hint('otel')}"
                ) from None
        return None
    tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)  # type: ignore[arg-type]
    meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)  # type: ignore[arg-type]
    return Telemetry(
        tracer,
        meter.create_histogram(
            "opay.client.close.duration",
            unit="s",
            description="How long a close took, from its first attempt to its outcome",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        meter.create_counter(
            "opay.client.attempts",
            unit="{attempt}",
            description="Requests sent to close a payment, by what each one got back",
        ),
        meter.create_counter(
            "opay.client.retry_budget.refusals",
            unit="{retry}",
            description="Retries not made because the client's retry budget was empty",
        ),
    )


def _error_attributes(error: OPayError) -> dict[str, Any]:
    attributes: dict[str, Any] = {"error.type": type(error).__name__}
    if isinstance(error, OPayAPIError):
        attributes["opay.code"] = error.code
    if isinstance(error, PaymentNotClosedError):
        attributes["opay.order_status"] = error.payment.raw_order_status
    return attributes


class Telemetry:
    """A client's tracer and instruments; makes the trace of each close and each run."""

    __slots__ = ("_attempts", "_duration", "_refusals", "_servers", "_tracer")

    def __init__(
        self, tracer: Tracer, duration: Histogram, attempts: Counter, refusals: Counter
    ) -> None:
        self._tracer = tracer
        self._duration = duration
        self._attempts = attempts
        self._refusals = refusals
        self._servers: dict[str, tuple[str, int]] = {}  # a close has one URL per country

    def _server(self, url: str) -> tuple[str, int]:
        server = self._servers.get(url)
        if server is None:
            parts = urlsplit(url)
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 443)
            server = self._servers[url] = (parts.hostname or "", port)
        return server

    def start_close(self, request: CloseRequest, url: str) -> CloseTrace:
        """Start the span of one close, current until `CloseTrace.end`."""
        from opentelemetry import context, trace  # noqa: PLC0415 (loaded: telemetry_for did)

        host, port = self._server(url)
        attributes: dict[str, Any] = {
            "opay.country": request.country,
            "server.address": host,
            "server.port": port,
        }
        if request.reference is not None:
            attributes["opay.reference"] = request.reference
        if request.order_no is not None:
            attributes["opay.order_no"] = request.order_no
        span = self._tracer.start_span(
            "opay.close_payment", kind=trace.SpanKind.CLIENT, attributes=attributes
        )
        token = context.attach(trace.set_span_in_context(span))
        return CloseTrace(span, token, request.country, self._duration, self._attempts)

    def start_run(self) -> RunTrace:
        """Start the span of a bulk run, a child of the current span (its closes carry it)."""
        return RunTrace(self._tracer.start_span("opay.close_many"))

    def retry_refused(self) -> None:
        """Count a retry the retry budget refused."""
        self._refusals.add(1)


class CloseTrace:
    """The span of one close, its attempts and its end; the close's metrics."""

    __slots__ = ("_attempts", "_code", "_country", "_duration", "_span", "_started", "_token")

    def __init__(
        self, span: Span, token: object, country: str, duration: Histogram, attempts: Counter
    ) -> None:
        self._span = span
        self._token = token
        self._country = country
        self._duration = duration
        self._attempts = attempts
        self._started = time.perf_counter()
        self._code: str | None = None  # the code of OPay's last answer

    def attempted(self, result: Payment | OPayError, code: str | None) -> None:
        """Count one attempt by what it got back (``code``: OPay's, when it answered one)."""
        attributes: dict[str, Any] = {"opay.country": self._country}
        if isinstance(result, OPayError):
            attributes.update(_error_attributes(result))
        self._code = code
        if code is not None:
            attributes["opay.code"] = code
        self._attempts.add(1, attributes)

    def retrying(self, attempt: int, error: OPayError, wait: float) -> None:
        """Note on the span that ``attempt`` failed with ``error`` and a retry waits ``wait``."""
        if self._span.is_recording():
            attributes = _error_attributes(error)
            attributes.update({"opay.attempt": attempt, "opay.retry.wait": wait})
            self._span.add_event("opay.retry", attributes)

    def end(self, outcome: CloseOutcome | None, stopped: BaseException | None = None) -> None:
        """End the span with the close's outcome (or the exception that stopped it)."""
        from opentelemetry import context, trace  # noqa: PLC0415 (loaded: telemetry_for did)

        span = self._span
        measured: dict[str, Any] = {"opay.country": self._country}
        error: BaseException | None = stopped
        if outcome is not None:
            error = outcome.error
            if outcome.payment is not None:
                measured["opay.order_status"] = outcome.payment.raw_order_status
        if isinstance(error, OPayError):
            measured.update(_error_attributes(error))
            measured.pop("opay.code", None)  # the histogram's attributes stay few
        elif error is not None:
            measured["error.type"] = type(error).__name__
        if span.is_recording():
            attributes = dict(measured)
            attributes["opay.attempts"] = 0 if outcome is None else outcome.attempts
            if self._code is not None:
                attributes["opay.code"] = self._code
            span.set_attributes(attributes)
            if error is not None:
                text = error.message if isinstance(error, OPayError) else str(error)
                description = f"{type(error).__name__}: {text}"[:_DESCRIPTION]
                span.set_status(trace.Status(trace.StatusCode.ERROR, description))
        span.end()
        self._duration.record(time.perf_counter() - self._started, measured)
        context.detach(self._token)  # type: ignore[arg-type]


class RunTrace:
    """The span of a bulk run: its closes are its children; its counts set at the end."""

    __slots__ = ("_closed", "_not_closed", "_not_sent", "_span")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._closed = self._not_closed = self._not_sent = 0

    def context(self) -> contextvars.Context:
        """A copy of the current context with this run's span current (one per worker)."""
        from opentelemetry import context, trace  # noqa: PLC0415 (loaded: telemetry_for did)

        carried = contextvars.copy_context()
        carried.run(context.attach, trace.set_span_in_context(self._span))
        return carried

    def count(self, outcome: CloseOutcome) -> None:
        """Count one item's outcome: closed, not closed after sending, or never sent."""
        if outcome.ok:
            self._closed += 1
        elif outcome.attempts == 0:
            self._not_sent += 1
        else:
            self._not_closed += 1

    def end(self, stopped_by: OPayError | None, ended: BaseException | None) -> None:
        """Set the counts and end the span.

        Args:
            stopped_by: The fatal error the run stopped on, if it did.
            ended: The exception that ended the run early (a cancellation, a bug).
        """
        from opentelemetry import trace  # noqa: PLC0415 (loaded: telemetry_for did)

        span = self._span
        if span.is_recording():
            span.set_attributes(
                {
                    "opay.close_many.closed": self._closed,
                    "opay.close_many.not_closed": self._not_closed,
                    "opay.close_many.not_sent": self._not_sent,
                }
            )
            cause = ended or stopped_by
            if cause is not None:
                text = cause.message if isinstance(cause, OPayError) else str(cause)
                span.set_attribute("error.type", type(cause).__name__)
                span.set_status(
                    trace.Status(
                        trace.StatusCode.ERROR, f"{type(cause).__name__}: {text}"[:_DESCRIPTION]
                    )
                )
        span.end()
