"""The Celery example traced: one trace from the producer through each chunk to its closes.

A real ``redis-server`` on a free loopback port, one prefork worker of 2 pool processes
and the producer command, against ``opay-async simulate``, all with
``OTEL_TRACES_EXPORTER`` set (examples/celery_worker/tracing.py): each process exports its
spans to a file of its own (tests/span_files.py), and the files are read as one trace.
Skipped when ``redis-server`` is not on PATH, or ``opentelemetry-instrumentation-celery``
is not installed (the tests group installs it). And the example untraced: without the
variable, or with it but without OpenTelemetry, it runs as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from examples.celery_worker import brokers, local, tracing
from opay_async.testing import DEFAULT_SECRET_KEY
from tests.celery_fleet import LATENCY, Fleet, finish, references
from tests.span_files import Span, SpanFiles, tree

REFERENCES = 40
CHUNK = 10
PUBLISH = "apply_async/opay.close_chunk"
RUN = "run/opay.close_chunk"
#: The attributes the printed tree shows (pytest -s): docs/bulk.md quotes it.
SHOWN = (
    "process.exit.code",
    "messaging.message.id",
    "opay.close_many.closed",
    "opay.reference",
    "opay.order_status",
)


def task_id(span: Span) -> str:
    """The id of the task a Celery span publishes or runs."""
    found: str = span["attributes"]["messaging.message.id"]
    return found


def ancestors(span: Span, by_id: dict[str, Span]) -> list[str]:
    """The span ids above ``span``, its parent first; each must have been exported."""
    found: list[str] = []
    parent = span["parent_id"]
    while parent is not None:
        assert parent in by_id, f"{span['name']}: parent {parent} not exported"
        found.append(parent)
        parent = by_id[parent]["parent_id"]
    return found


@pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not on PATH (apt-get install redis-server): tracing test skipped",
)
def test_one_trace_from_the_producer_through_each_chunk_to_its_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("opentelemetry.instrumentation.celery")
    started = time.monotonic()
    spans = SpanFiles(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(spans.plugin))  # after the root, in each process
    wanted = references("TRACE", REFERENCES)
    with local.simulator() as simulator, brokers.redis_server(tmp_path / "redis") as redis:
        simulator.set_latency(LATENCY)
        broker = {"CELERY_BROKER_URL": redis.url(0), "CELERY_RESULT_BACKEND": redis.url(1)}
        fleet = Fleet(tmp_path, simulator, {**broker, **spans.environment}, chunk=CHUNK)
        with fleet.workers(processes=2) as workers:
            code, stderr = finish(fleet.producer(wanted))
        log = workers.log_text()  # the worker has stopped: its processes flushed their spans
        assert code == 0, stderr
        fleet.assert_all_closed_once(wanted)
    exported = spans.spans()
    print(f"\ntraced run: {time.monotonic() - started:.1f} s, {len(exported)} spans")
    print("\n".join(tree(exported, SHOWN)))

    # The producer and each pool process exported to a file of its own.
    assert len(spans.files()) == 3
    services = Counter(span["resource"]["attributes"]["service.name"] for span in exported)
    assert set(services) == {"opay-celery-producer", "opay-celery-worker"}

    # One trace, rooted at the producer's span.
    assert len({span["context"]["trace_id"] for span in exported}) == 1
    by_id = {span["context"]["span_id"]: span for span in exported}
    (root,) = [span for span in exported if span["parent_id"] is None]
    assert root["name"] == tracing.PRODUCER_SPAN
    assert root["resource"]["attributes"]["service.name"] == "opay-celery-producer"
    assert root["attributes"]["process.exit.code"] == 0
    root_id = root["context"]["span_id"]

    def named(name: str) -> list[Span]:
        return [span for span in exported if span["name"] == name]

    # Each chunk: published under the root, run (once: no fault) under its publish span.
    chunks = REFERENCES // CHUNK
    publishes = {task_id(span): span for span in named(PUBLISH)}
    assert len(publishes) == chunks
    assert {span["parent_id"] for span in publishes.values()} == {root_id}
    runs = named(RUN)
    assert sorted(task_id(span) for span in runs) == sorted(publishes)
    for run in runs:
        publish = publishes[task_id(run)]
        assert publish["context"]["span_id"] in ancestors(run, by_id)
        assert run["resource"]["attributes"]["service.name"] == "opay-celery-worker"
    # The SDK's run of each chunk under the worker's span, and each close under that.
    run_ids = {run["context"]["span_id"] for run in runs}
    close_manys = named("opay.close_many")
    assert len(close_manys) == chunks
    assert {span["parent_id"] for span in close_manys} <= run_ids
    assert sum(span["attributes"]["opay.close_many.closed"] for span in close_manys) == REFERENCES
    closes = named("opay.close_payment")
    assert len(closes) == REFERENCES
    assert sorted(span["attributes"]["opay.reference"] for span in closes) == wanted
    many_ids = {span["context"]["span_id"] for span in close_manys}
    for close in closes:
        above = ancestors(close, by_id)
        assert above[0] in many_ids
        assert above[-1] == root_id
    assert len(exported) == 1 + 2 * chunks + chunks + REFERENCES  # nothing else

    # Nothing exported holds the secret key or a request's Authorization header.
    text = spans.text()
    assert DEFAULT_SECRET_KEY not in text
    assert "authorization" not in text.lower()
    assert "Bearer" not in text
    # Tracing added no warning to the worker's log, nor the producer's.
    assert "WARNING/" not in log and "ERROR/" not in log and "Traceback" not in log
    assert "WARNING" not in stderr


def python(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=local.ROOT,
        env={**env, **environment, "PYTHONPATH": str(local.ROOT)},
        check=False,
    )


UNTRACED = """
    import sys
    {block}
    from examples.celery_worker import app, producer, tracing
    app.close_chunk_task  # the app and its hooks are loaded
    print(producer.traced_main(lambda: 7))
    tracing.start_in_worker_process()
    tracing.stop()
    print(sorted({{name.split(".")[0] for name in sys.modules if "opentelemetry" in name}}))
"""


def test_unset_nothing_of_opentelemetry_is_imported() -> None:
    ran = python(UNTRACED.format(block=""))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["7", "[]"]
    assert ran.stderr == ""


@pytest.mark.parametrize(
    ("exporter", "block", "why"),
    [
        (
            "otlp",
            'sys.modules["opentelemetry"] = None  # as if it were not installed',
            "OTEL_TRACES_EXPORTER=otlp but opentelemetry is not installed: not traced "
            "(pip install opentelemetry-sdk opentelemetry-instrumentation-celery)",
        ),
        ("no-such-exporter", "", "no installed package provides span exporter 'no-such-exporter'"),
    ],
)
def test_set_but_not_installed_the_example_runs_untraced_and_says_why(
    exporter: str, block: str, why: str
) -> None:
    if not block:  # OpenTelemetry installed, and no package provides the name
        pytest.importorskip("opentelemetry.instrumentation.celery")
    ran = python(UNTRACED.format(block=block), OTEL_TRACES_EXPORTER=exporter)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == "7"
    # Said once per process that tries: the producer, then a pool process.
    assert ran.stderr.count(why) == 2, ran.stderr


def test_a_process_with_a_tracer_provider_already_keeps_it() -> None:
    pytest.importorskip("opentelemetry.instrumentation.celery")
    ran = python(
        """
        from opentelemetry import trace
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from examples.celery_worker import tracing

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)  # the application's, or opentelemetry-instrument's
        print(tracing.traced_main(lambda: 0))
        instrumented = CeleryInstrumentor().is_instrumented_by_opentelemetry
        print(trace.get_tracer_provider() is provider, instrumented)
        print([span.name for span in exporter.get_finished_spans()])
        """,
        OTEL_TRACES_EXPORTER="console",
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["0", "True True", "['opay.celery.close_in_chunks']"]
    assert ran.stderr == ""  # no "Overriding of current TracerProvider", nothing printed
