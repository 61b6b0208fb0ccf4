"""CPU per close with OpenTelemetry: absent, the API alone, and the SDK exporting in batches.

    python benchmarks/otel_overhead.py [--n 20000] [--concurrency 100] [--rounds 5]

``close_many`` against the same loopback server (answering at once), each run in a fresh
process, the three kinds interleaved round after round; the table shows the median CPU
time per close of the client process, and each kind against "absent":

- ``absent``: ``opentelemetry`` cannot be imported (as without the ``otel`` extra: the
  import is blocked in the worker, so the same installation measures all three);
- ``api``: ``opentelemetry-api`` installed, no provider configured (the API's no-op
  spans and instruments: what an application that installed the extra but exports
  nothing pays);
- ``sdk``: ``opentelemetry-sdk`` configured the standard way (global providers), spans
  through a ``BatchSpanProcessor`` and metrics through a ``PeriodicExportingMetricReader``,
  both to an exporter that drops what it gets (the SDK's own work, without the network).

Needs the ``otel`` extra and ``opentelemetry-sdk``: ``nox -s bench_otel`` installs both, in
a venv of its own, and runs this script.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from _contenders import KEY, MERCHANT
from _runner import current_sdk, loopback_server, worker_env

KINDS = ("absent", "api", "sdk")
WARM_UP = 1000


def configure_sdk() -> None:
    """Global providers of the SDK, exporting in batches to exporters that drop all."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class DropSpans(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DropMetrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 0, **kwargs: Any) -> Any:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 0) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 0, **kwargs: Any) -> None:
            return None

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    trace.set_tracer_provider(provider)
    reader = PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=1000)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))


async def closes(url: str, n: int, concurrency: int) -> float:
    """CPU seconds of ``close_many`` of ``n`` references (after a warm-up)."""
    from opay_async import OPayClient

    async with OPayClient(MERCHANT, KEY, base_url=url, max_connections=concurrency) as opay:
        warm = [f"WARM-{number}" for number in range(WARM_UP)]
        await opay.close_many(warm, country="EG", concurrency=concurrency)
        references = [f"REF-{number}" for number in range(n)]
        started = time.process_time()
        outcomes = await opay.close_many(references, country="EG", concurrency=concurrency)
        cpu = time.process_time() - started
    assert all(outcome.ok for outcome in outcomes), "every close must succeed"
    return cpu


def worker(kind: str, url: str, n: int, concurrency: int) -> None:
    """One measurement in this process: print µs of CPU per close."""
    if kind == "absent":
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]
    elif kind == "sdk":
        configure_sdk()
    cpu = asyncio.run(closes(url, n, concurrency))
    from opay_async import OPayClient

    telemetry = OPayClient(MERCHANT, KEY)._sender.telemetry  # what the kind really ran with
    assert (telemetry is None) == (kind == "absent"), kind
    print(cpu / n * 1e6)


def main() -> None:
    """Run the three kinds in fresh processes, interleaved; print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--_worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._worker:
        worker(args._worker[0], args._worker[1], args.n, args.concurrency)
        return
    per_close: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with loopback_server(0.0) as url:
        for round_number in range(args.rounds):
            order = KINDS[round_number % len(KINDS) :] + KINDS[: round_number % len(KINDS)]
            for kind in order:
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--n",
                        str(args.n),
                        "--concurrency",
                        str(args.concurrency),
                        "--_worker",
                        kind,
                        url,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=worker_env(current_sdk()[0]),  # this checkout's opay_async
                )
                per_close[kind].append(float(done.stdout))
    absent = statistics.median(per_close["absent"])
    print(
        f"$ python benchmarks/otel_overhead.py --n {args.n} --concurrency {args.concurrency} "
        f"--rounds {args.rounds}"
    )
    print("| OpenTelemetry | CPU µs per close (median) | vs absent | runs |")
    print("| --- | ---: | ---: | --- |")
    for kind, values in per_close.items():
        median = statistics.median(values)
        runs = ", ".join(f"{value:.0f}" for value in values)
        print(f"| {kind} | {median:.0f} | {median / absent:.3f}x | {runs} |")


if __name__ == "__main__":
    main()
