"""OpenTelemetry: a span per close and per bulk run, metrics, logs that join, never a secret.

Each test gives the client its own providers (the SDK's in-memory exporter and metric
reader): no global state is touched here. The global providers, the API missing and the
command under ``opentelemetry-instrument`` are checked in child processes
(tests/test_telemetry_process.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from opay_async import (
    CloseRequest,
    OPayClient,
    OrderStatus,
    RetryBudget,
    RetryPolicy,
    RunStoppedError,
)
from opay_async._clock import VirtualClock, reset_clock, use_clock
from opay_async._telemetry import DURATION_BUCKETS
from opay_async.testing import FakeOPay
from opay_async.testing._server import serving
from tests.helpers import hx

SIGNATURE = re.compile(r"[0-9a-f]{128}")


@attrs.define
class Otel:
    """Providers of the SDK, their in-memory exporter and metric reader."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def options(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if name in {None, span.name}]

    def metrics(self) -> dict[str, list[Any]]:
        """Each metric's data points, by name."""
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found

    def everything(self) -> str:
        """All that was exported, as text: spans, events, attributes, metrics."""
        spans = [span.to_json() for span in self.spans.get_finished_spans()]
        data = self.reader.get_metrics_data()
        return "\n".join([*spans, data.to_json() if data else ""])


@pytest.fixture
def otel() -> Iterator[Otel]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(tracer_provider, meter_provider, spans, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """Retry waits move a virtual clock: nothing sleeps for real."""
    virtual = VirtualClock(follow_real_time=False)
    token = use_clock(virtual)
    yield virtual
    reset_clock(token)


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_closed_payment_is_one_client_span_under_the_callers(otel: Otel) -> None:
    fake = FakeOPay(auto_create=True)
    caller = otel.tracer_provider.get_tracer("app")
    async with fake.client(**otel.options()) as opay:
        with caller.start_as_current_span("handle request") as parent:
            await opay.close_payment(reference="SHOP-1", country="EG")
    (span,) = otel.finished("opay.close_payment")
    assert span.kind is SpanKind.CLIENT
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert attributes(span) == {
        "opay.country": "EG",
        "opay.reference": "SHOP-1",
        "server.address": "sandboxapi.opaycheckout.com",
        "server.port": 443,
        "opay.order_status": "CLOSE",
        "opay.code": "00000",
        "opay.attempts": 1,
    }
    assert span.status.status_code is StatusCode.UNSET  # a closed payment: no error
    assert not span.events


async def test_a_retried_close_shows_each_failed_attempt_and_its_wait(
    otel: Otel, clock: VirtualClock
) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(2)  # 50003 twice
    async with fake.client(**otel.options()) as opay:
        await opay.close_payment(order_no="211018140366538753", country="NG")
    (span,) = otel.finished("opay.close_payment")
    assert attributes(span)["opay.attempts"] == 3
    assert attributes(span)["opay.code"] == "00000"
    assert attributes(span)["opay.order_no"] == "211018140366538753"
    assert "opay.reference" not in attributes(span)  # only what was given
    assert span.status.status_code is StatusCode.UNSET
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    assert [name for name, _ in events] == ["opay.retry", "opay.retry"]
    assert [fields["opay.attempt"] for _, fields in events] == [1, 2]
    for _, fields in events:
        assert fields["opay.code"] == "50003"
        assert fields["error.type"] == "ServiceUnavailableError"
        assert 0 <= fields["opay.retry.wait"] <= RetryPolicy().wait_max
    attempts = otel.metrics()["opay.client.attempts"]
    by_code = {point.attributes.get("opay.code"): point.value for point in attempts}
    assert by_code == {"50003": 2, "00000": 1}


@pytest.mark.parametrize(
    ("arrange", "error_type", "code", "status"),
    [
        (lambda fake: None, "PaymentNotFoundError", "02006", None),
        (lambda fake: fake.timeout_next(), "OPayTimeoutError", None, None),
        (
            lambda fake: fake.add_payment(
                reference="SHOP-1", country="EG", status=OrderStatus.SUCCESS
            ),
            "PaymentAlreadyPaidError",
            "00000",
            "SUCCESS",
        ),
    ],
)
async def test_a_close_that_did_not_close_is_an_error_span(
    otel: Otel, arrange: Any, error_type: str, code: str | None, status: str | None
) -> None:
    fake = FakeOPay()
    arrange(fake)
    async with fake.client(retry=RetryPolicy.none(), **otel.options()) as opay:
        outcome = await opay.try_close(CloseRequest(reference="SHOP-1", country="EG"))
    assert type(outcome.error).__name__ == error_type
    (span,) = otel.finished("opay.close_payment")
    fields = attributes(span)
    assert fields["error.type"] == error_type
    assert fields.get("opay.code") == code
    assert fields.get("opay.order_status") == status
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None
    assert span.status.description.startswith(f"{error_type}: ")
    assert len(span.status.description) <= 200
    (point,) = otel.metrics()["opay.client.close.duration"]
    assert point.attributes["error.type"] == error_type
    assert "opay.reference" not in point.attributes  # low cardinality: never the reference


async def test_the_duration_histogram_has_one_point_per_close_in_advised_buckets(
    otel: Otel,
) -> None:
    fake = FakeOPay(auto_create=True)
    async with fake.client(**otel.options()) as opay:
        for n in range(5):
            await opay.close_payment(reference=f"SHOP-{n}", country="EG")
    (point,) = otel.metrics()["opay.client.close.duration"]
    assert point.count == 5
    assert tuple(point.explicit_bounds) == DURATION_BUCKETS
    assert dict(point.attributes) == {"opay.country": "EG", "opay.order_status": "CLOSE"}
    (metric,) = [
        metric
        for resource in otel.reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "opay.client.close.duration"
    ]
    assert metric.unit == "s"


async def test_a_bulk_run_is_a_span_whose_children_are_its_closes(otel: Otel) -> None:
    fake = FakeOPay(auto_create=True)
    fake.add_payment(reference="PAID", country="EG", status=OrderStatus.SUCCESS)
    caller = otel.tracer_provider.get_tracer("job")
    items = [f"STALE-{n}" for n in range(18)] + ["PAID", ""]
    async with fake.client(retry=RetryPolicy.none(), **otel.options()) as opay:
        with caller.start_as_current_span("nightly job") as job:
            outcomes = await opay.close_many(items, country="EG", concurrency=5)
            assert trace.get_current_span() is job  # the run did not leak its span
    assert sum(outcome.ok for outcome in outcomes) == 18
    (run,) = otel.finished("opay.close_many")
    assert run.parent is not None
    assert run.parent.span_id == job.get_span_context().span_id
    closes = otel.finished("opay.close_payment")
    assert len(closes) == 19  # the empty reference never left the client
    assert {close.parent.span_id for close in closes if close.parent} == {
        run.get_span_context().span_id
    }
    assert {close.context.trace_id for close in closes} == {job.get_span_context().trace_id}
    assert attributes(run) == {
        "opay.close_many.closed": 18,
        "opay.close_many.not_closed": 1,
        "opay.close_many.not_sent": 1,
    }
    assert run.status.status_code is StatusCode.UNSET


async def test_iter_close_many_keeps_the_consumers_span_current(otel: Otel) -> None:
    fake = FakeOPay(auto_create=True)
    caller = otel.tracer_provider.get_tracer("job")
    async with fake.client(**otel.options()) as opay:
        with caller.start_as_current_span("consumer") as consumer:
            stream = opay.iter_close_many([f"R-{n}" for n in range(6)], country="EG")
            async with contextlib.aclosing(stream) as outcomes:
                async for _ in outcomes:
                    assert trace.get_current_span() is consumer
                    break  # leaving early ends the run, not in error
    (run,) = otel.finished("opay.close_many")
    assert run.status.status_code is StatusCode.UNSET


async def test_a_run_stopped_on_a_dead_key_says_so(otel: Otel) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(1, code="02000", message="authentication failed.")
    async with fake.client(**otel.options()) as opay:
        outcomes = await opay.close_many([f"R-{n}" for n in range(30)], country="EG", concurrency=1)
    assert sum(isinstance(outcome.error, RunStoppedError) for outcome in outcomes) == 29
    (run,) = otel.finished("opay.close_many")
    assert attributes(run)["error.type"] == "AuthenticationError"
    assert attributes(run)["opay.close_many.not_sent"] == 29
    assert run.status.status_code is StatusCode.ERROR
    assert len(otel.finished("opay.close_payment")) == 1  # items never sent are not closes


async def test_a_cancelled_run_ends_its_spans(otel: Otel) -> None:
    fake = FakeOPay(auto_create=True)
    fake.latency = 30.0  # every close waits: the run is cancelled with closes in flight
    async with fake.client(**otel.options()) as opay:
        task = asyncio.create_task(
            opay.close_many([f"R-{n}" for n in range(10)], country="EG", concurrency=4)
        )
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    (run,) = otel.finished("opay.close_many")
    assert attributes(run)["error.type"] == "CancelledError"
    closes = otel.finished("opay.close_payment")
    assert len(closes) == 4
    assert {attributes(close)["error.type"] for close in closes} == {"CancelledError"}
    assert len(otel.spans.get_finished_spans()) == 5  # nothing left open


def test_several_event_loops_give_separate_traces(otel: Otel) -> None:
    fake = FakeOPay(auto_create=True)
    opay = fake.client(**otel.options())
    for n in range(3):
        asyncio.run(opay.close_payment(reference=f"LOOP-{n}", country="EG"))
    asyncio.run(opay.aclose())
    closes = otel.finished("opay.close_payment")
    assert len(closes) == 3
    assert len({close.context.trace_id for close in closes}) == 3
    assert all(close.parent is None for close in closes)


async def test_the_retry_budgets_refusals_are_counted(otel: Otel, clock: VirtualClock) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(100)
    budget = RetryBudget(capacity=1, retry_cost=1, success_refund=0)  # one retry in all
    async with fake.client(retry_budget=budget, **otel.options()) as opay:
        outcomes = await opay.close_many([f"R-{n}" for n in range(4)], country="EG", concurrency=1)
    assert [outcome.attempts for outcome in outcomes] == [2, 1, 1, 1]
    (refusals,) = otel.metrics()["opay.client.retry_budget.refusals"]
    assert refusals.value == 4  # the second retry of the first close, then one per close
    attempts = sum(point.value for point in otel.metrics()["opay.client.attempts"])
    assert attempts == 5


@pytest.mark.parametrize("backend", ["httpx2", "aiohttp", "caller's client"])
async def test_every_way_of_sending_gives_the_same_spans(otel: Otel, backend: str) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(1)
    seen: list[set[bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:  # notes the header names
        if scope["type"] == "http":
            seen.append({name.lower() for name, _ in scope["headers"]})
        await fake.app(scope, receive, send)

    async with contextlib.AsyncExitStack() as stack:
        base_url = await stack.enter_async_context(serving(app, "127.0.0.1", 0))
        options: dict[str, Any] = {"base_url": base_url, **otel.options()}
        if backend == "caller's client":
            options["http_client"] = await stack.enter_async_context(hx.AsyncClient())
        else:
            options["backend"] = backend
        opay = OPayClient(fake.merchant_id, fake.secret_key, retry=no_wait(), **options)
        async with opay:
            await opay.close_many(["A-1", "A-2"], country="EG", concurrency=1)
    (run,) = otel.finished("opay.close_many")
    closes = sorted(otel.finished("opay.close_payment"), key=lambda span: span.start_time or 0)
    port = int(base_url.rsplit(":", 1)[1])
    assert [attributes(close)["opay.attempts"] for close in closes] == [2, 1]
    for close in closes:
        assert close.parent is not None
        assert close.parent.span_id == run.get_span_context().span_id
        assert attributes(close)["server.address"] == "127.0.0.1"
        assert attributes(close)["server.port"] == port
    assert [event.name for event in closes[0].events] == ["opay.retry"]
    # The SDK adds no trace header to what it sends: OPay does not read one.
    assert len(seen) == 3
    assert all(names.isdisjoint({b"traceparent", b"tracestate", b"baggage"}) for names in seen)


def no_wait() -> RetryPolicy:
    return RetryPolicy(wait_initial=0.0, wait_max=0.0)


async def test_http_instrumentation_nests_under_the_close(otel: Otel) -> None:
    httpx_instrumentation = pytest.importorskip("opentelemetry.instrumentation.httpx")
    instrumentor = httpx_instrumentation.HTTPX2ClientInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider)
    try:
        fake = FakeOPay(auto_create=True)
        async with (
            fake.serve() as base_url,
            OPayClient(
                fake.merchant_id, fake.secret_key, base_url=base_url, **otel.options()
            ) as opay,
        ):
            await opay.close_payment(reference="NESTED", country="EG")
    finally:
        instrumentor.uninstrument()
    (close,) = otel.finished("opay.close_payment")
    (http,) = [span for span in otel.finished() if span.name == "POST"]
    assert http.parent is not None
    assert http.parent.span_id == close.get_span_context().span_id
    assert http.kind is SpanKind.CLIENT


async def test_nothing_exported_holds_a_key_or_a_signature(
    otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(1, code="02000", message=f"bad signature {'ab' * 64} {fake.secret_key}")
    caplog.set_level(logging.DEBUG, logger="opay_async")
    async with fake.client(**otel.options()) as opay:
        await opay.close_many([f"R-{n}" for n in range(3)], country="EG", concurrency=1)
        await opay.close_payment(reference="R-9", country="EG")
    exported = otel.everything()
    records = "\n".join(
        json.dumps({key: str(value) for key, value in vars(record).items()})
        for record in caplog.records
    )
    assert "opay.close_payment" in exported and "R-9" in exported  # the grep reads something
    for text in (exported, records):
        assert fake.secret_key not in text
        assert "OPAYPRV" not in text
        assert not SIGNATURE.search(text)
        assert "Bearer" not in text
        assert "authorization" not in text.lower()


async def test_log_records_carry_the_closes_fields(
    otel: Otel, caplog: pytest.LogCaptureFixture, clock: VirtualClock
) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(1)
    caplog.set_level(logging.DEBUG, logger="opay_async")
    async with fake.client(**otel.options()) as opay:
        await opay.close_payment(reference="LOGGED", country="EG")
    attempts = [record for record in caplog.records if record.getMessage().startswith("close ")]
    assert [vars(record)["opay.attempt"] for record in attempts] == [1, 2]
    first, second = (vars(record) for record in attempts)
    assert first["opay.reference"] == second["opay.reference"] == "LOGGED"
    assert (first["opay.outcome"], first["opay.code"]) == ("ServiceUnavailableError", "50003")
    assert (second["opay.outcome"], second["opay.code"]) == ("CLOSE", None)
    assert isinstance(first["opay.elapsed_ms"], float)
    (retry,) = [record for record in caplog.records if record.getMessage().startswith("retrying")]
    assert vars(retry)["opay.reference"] == "LOGGED"
    assert vars(retry)["opay.attempt"] == 1
    assert vars(retry)["opay.code"] == "50003"
