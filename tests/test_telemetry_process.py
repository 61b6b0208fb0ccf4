"""OpenTelemetry as a process sees it: the API missing, global providers, the command.

Each case runs in a child process: OpenTelemetry's global providers can be set once per
process, and "not installed" means an interpreter where the import fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python(code: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def test_without_opentelemetry_the_sdk_works_and_a_provider_is_refused() -> None:
    ran = python(
        """
        import asyncio, sys
        sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
        from opay_async import OPayValidationError
        from opay_async.testing import FakeOPay

        async def main():
            fake = FakeOPay(auto_create=True)
            async with fake.client() as opay:
                assert opay._sender.telemetry is None
                payment = await opay.close_payment(reference="NO-OTEL", country="EG")
                outcomes = await opay.close_many(["A", "B"], country="EG")
            print(payment.order_status.value, sum(o.ok for o in outcomes))
            try:
                fake.client(tracer_provider=object())
            except OPayValidationError as error:
                print(error)

        asyncio.run(main())
        assert "opentelemetry.trace" not in sys.modules
        """
    )
    assert ran.returncode == 0, ran.stderr
    first, second = ran.stdout.splitlines()
    assert first == "CLOSE 2"
    assert second.startswith("tracer_provider: needs opentelemetry-api, the otel extra: ")
    assert "pip install" in second and "[otel]" in second


def test_global_providers_set_after_the_client_is_made_are_followed() -> None:
    ran = python(
        """
        import asyncio
        from opay_async.testing import FakeOPay

        fake = FakeOPay(auto_create=True)
        opay = fake.client()  # made before any provider is configured

        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

        async def main():
            async with opay:
                await opay.close_payment(reference="GLOBAL", country="EG")

        asyncio.run(main())
        names = [span.name for span in exporter.get_finished_spans()]
        data = reader.get_metrics_data()
        metric_names = sorted(
            m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics
        )
        print(names, metric_names)
        """
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == (
        "['opay.close_payment'] ['opay.client.attempts', 'opay.client.close.duration']"
    )


def spans_printed(text: str) -> list[dict[str, Any]]:
    """The spans the console exporter printed (JSON objects one after another)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    position = text.find("{")
    while position != -1:
        value, end = decoder.raw_decode(text, position)
        if isinstance(value, dict) and "context" in value:
            found.append(value)
        position = text.find("{", end)
    return found


def test_the_command_under_opentelemetry_instrument_shows_the_run_and_its_closes(
    tmp_path: Path,
) -> None:
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    if not instrument.exists():
        pytest.skip("opentelemetry-instrument is not installed (the tests group installs it)")
    rows = tmp_path / "rows.csv"
    rows.write_text("reference,country\nOT-1,EG\nOT-2,EG\nOT-3,NG\n,EG\n")
    environment = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "stale-orders",
    }
    ran = subprocess.run(
        [
            str(instrument),
            sys.executable,
            "-m",
            "opay_async",
            "close-many",
            str(rows),
            "--simulate",
            "--output",
            str(tmp_path / "out.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=environment,
        check=False,
    )
    assert ran.returncode == 1, ran.stderr  # one row has no reference: not all closed
    spans = spans_printed(ran.stdout)
    (run,) = [span for span in spans if span["name"] == "opay.close_many"]
    closes = [span for span in spans if span["name"] == "opay.close_payment"]
    assert sorted(span["attributes"]["opay.reference"] for span in closes) == [
        "OT-1",
        "OT-2",
        "OT-3",
    ]
    assert {span["parent_id"] for span in closes} == {run["context"]["span_id"]}
    assert {span["context"]["trace_id"] for span in closes} == {run["context"]["trace_id"]}
    assert run["attributes"]["opay.close_many.closed"] == 3
    assert run["attributes"]["opay.close_many.not_sent"] == 1
    assert "OPAYPRV" not in ran.stdout + ran.stderr


def test_the_trace_tree_example_prints_both_traces() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "examples.observability.trace_tree"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    roots = [line for line in lines if not line.startswith(" ")]
    assert [root.split(" (")[0] for root in roots] == [
        "POST /orders/SHOP-1/cancel",
        "nightly stale orders",
    ]
    assert lines[1].startswith("  opay.close_payment (")
    assert "opay.attempts=3, opay.code=00000, opay.order_status=CLOSE" in lines[1]
    assert [line.split(":")[0].strip() for line in lines[2:4]] == ["event opay.retry"] * 2
    closes = [line for line in lines if line.startswith("    opay.close_payment")]
    assert len(closes) == 20
    assert sum("[ERROR]" in line for line in closes) == 2
    assert "opay.close_many.closed=18, opay.close_many.not_closed=2" in lines[5]
