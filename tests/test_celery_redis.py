"""The Celery example on a real Redis broker and result backend, with faults.

Each test starts its own ``redis-server`` on a free loopback port (append-only file,
fsynced at every write: what docs/bulk.md recommends), one prefork worker, and the
producer command as a subprocess, against ``opay-async simulate`` over HTTP; then it
does what an operator's bad day does: a pool process killed mid-chunk, the whole worker
killed and started again, Redis crashed and restarted. Each asserts, from the
simulator's admin API, that every payment is closed, that the results file has exactly
one record per reference, and the producer's exit code.

Skipped when ``redis-server`` is not on PATH (``apt-get install redis-server``; CI
installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.celery_worker import local

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not on PATH (apt-get install redis-server): Redis fault tests skipped",
)

REFERENCES = 1500
CHUNK = 150
LATENCY = 0.01  # seconds per close: 10 in flight per process, so ~1,000 closes/s at most
VISIBILITY_TIMEOUT = 4  # seconds; the chunks here take about one
EXIT_INCOMPLETE = 3


@pytest.fixture(scope="module")
def simulator() -> Iterator[local.Simulator]:
    with local.simulator() as running:
        running.set_latency(LATENCY)
        yield running


class Fleet:
    """A Redis, a worker, the simulator, and the producer command, in one folder."""

    def __init__(self, folder: Path, redis: local.RedisServer, simulator: local.Simulator):
        self.folder = folder
        self.redis = redis
        self.simulator = simulator
        self.env = {
            "CELERY_BROKER_URL": redis.url(0),
            "CELERY_RESULT_BACKEND": redis.url(1),
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "OPAY_CONCURRENCY": "10",
            **simulator.environment,
        }
        self.output = folder / "results.jsonl"
        self.logs: list[Path] = []

    def workers(
        self, processes: int = 2, **env: str
    ) -> contextlib.AbstractContextManager[local.Workers]:
        log = self.folder / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        return local.workers({**self.env, **env}, processes=processes, log=log, timeout=30)

    def producer(self, references: list[str], *extra: str) -> subprocess.Popen[str]:
        source = self.folder / "stale.csv"
        source.write_text("reference\n" + "".join(f"{ref}\n" for ref in references))
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "examples.celery_worker.producer", str(source)),
                *("--country", "EG", "--chunk-size", str(CHUNK), "--timeout", "60"),
                *("--output", str(self.output), *extra),
            ],
            cwd=local.ROOT,
            env={**os.environ, **self.env, "PYTHONPATH": str(local.ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_until(self, what: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    def wait_for_requests(self, count: int) -> None:
        self.wait_until(lambda: self.requests() >= count)

    def closed(self) -> int:
        count: int = self.simulator.admin("GET", "/")["closed_count"]
        return count

    def requests(self) -> int:
        count: int = self.simulator.admin("GET", "/")["request_count"]
        return count

    def records(self) -> list[dict[str, Any]]:
        lines = self.output.read_text().splitlines()
        return [json.loads(line) for line in lines]

    def log_text(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs)

    def assert_all_closed_once(self, references: list[str]) -> None:
        records = self.records()
        # Exactly one record per reference, each at its index, closed.
        assert Counter(record["index"] for record in records) == Counter(range(len(references)))
        assert all(record["reference"] == references[int(record["index"])] for record in records)
        assert {record["ok"] for record in records} == {True}
        # The simulator, not the records, says every payment is closed.
        payments = self.simulator.admin("GET", "/payments")["payments"]
        assert {payment["reference"] for payment in payments} == set(references)
        assert {payment["status"] for payment in payments} == {"CLOSE"}
        assert self.closed() == len(references)

    def report(self, fault: str, code: int, started: float) -> None:
        """One line for the fault table of docs/bulk.md (shown with pytest -s)."""
        records = self.records()
        print(
            f"\n{fault}: exit {code}, {len(records)} records, "
            f"{sum(bool(record['ok']) for record in records)} ok, {self.closed()} closed, "
            f"{self.requests()} requests, {len(self.redelivered())} chunks run again, "
            f"{time.monotonic() - started:.1f} s after the fault"
        )

    def redelivered(self) -> list[str]:
        """Task ids the worker logs received more than once."""
        received = Counter(
            re.findall(r"Task opay\.close_chunk\[([0-9a-f-]+)\] received", self.log_text())
        )
        return [task_id for task_id, count in received.items() if count > 1]


@pytest.fixture
def fleet(tmp_path: Path, simulator: local.Simulator) -> Iterator[Fleet]:
    simulator.admin("POST", "/reset")
    with local.redis_server(tmp_path / "redis") as redis:
        yield Fleet(tmp_path, redis, simulator)


def finish(producer: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        _, stderr = producer.communicate(timeout=timeout)
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.communicate()
    return producer.returncode, stderr


def references(prefix: str, count: int = REFERENCES) -> list[str]:
    return [f"{prefix}-{number:05d}" for number in range(count)]


def test_pool_processes_killed_mid_chunk_lose_nothing(fleet: Fleet) -> None:
    wanted = references("CHILD")
    with fleet.workers() as workers:
        first, second = workers.children()
        producer = fleet.producer(wanted)
        fleet.wait_until(lambda: fleet.closed() >= 200)  # both processes are in a chunk
        os.kill(first, signal.SIGKILL)  # as the OOM killer does
        killed = time.monotonic()
        fleet.wait_until(lambda: fleet.closed() >= 700)
        os.kill(second, signal.SIGTERM)
        code, stderr = finish(producer)
        fleet.report("pool processes SIGKILLed and SIGTERMed", code, killed)
        assert code == 0, stderr
        assert f"{REFERENCES} closed, 0 not closed" in stderr
        fleet.assert_all_closed_once(wanted)
        # The pool logs a child's death when it reaps it, which may come after the run.
        # SIGTERM either kills the child outright, or billiard's handler turns it into
        # SystemExit(-241), the child unwinds and exits with code 15.
        deaths = [
            re.compile(rf"pid:{first} exited with 'signal 9 \(SIGKILL\)'"),
            re.compile(rf"pid:{second} exited with '(signal 15 \(SIGTERM\)|exitcode 15)'"),
        ]
        deadline = time.monotonic() + 10
        while not all(death.search(workers.log_text()) for death in deaths):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        log = workers.log_text()
    exits = [line for line in log.splitlines() if "exited with" in line or "Lost" in line]
    for death in deaths:
        assert death.search(log), exits
    # The SIGKILLed process's chunk ran again; so did the other's, unless that one was
    # killed in the moment between two chunks.
    assert 1 <= len(fleet.redelivered()) <= 2


def test_a_chunk_that_keeps_killing_its_process_ends_as_failed_records(fleet: Fleet) -> None:
    wanted = references("POISON", CHUNK)  # one chunk
    fleet.simulator.set_latency(0.2)  # 150 closes, 10 at a time: 3 s per start
    try:
        with fleet.workers(processes=1, CELERY_MAX_DELIVERIES="2") as workers:
            producer = fleet.producer(wanted)
            for _ in range(2):  # kill the process in each of the chunk's two starts
                fleet.wait_for_requests(fleet.requests() + 5)  # it is in the chunk
                os.kill(workers.children()[0], signal.SIGKILL)
                time.sleep(0.3)  # what was in flight lands
            code, stderr = finish(producer)
            fleet.report("a chunk killing its process at each start", code, time.monotonic())
    finally:
        fleet.simulator.set_latency(LATENCY)
    assert code == 1, stderr
    assert f"0 closed, {CHUNK} not closed" in stderr
    records = fleet.records()
    assert [record["index"] for record in records] == list(range(CHUNK))
    assert {record["error_type"] for record in records} == {"WorkerLostError"}
    assert {record["retryable"] for record in records} == {True}
    assert all("started 2 times and never finished" in str(record["error"]) for record in records)
    # The third start closed nothing: the simulator saw only the two killed ones.
    assert fleet.closed() < CHUNK


def test_a_whole_worker_killed_then_restarted_loses_nothing(fleet: Fleet) -> None:
    wanted = references("WORKER")
    with fleet.workers() as workers:
        producer = fleet.producer(wanted)
        fleet.wait_until(lambda: fleet.closed() >= 500)
        os.killpg(workers.process.pid, signal.SIGKILL)  # the main process and its pool
        killed = time.monotonic()
    with fleet.workers():
        code, stderr = finish(producer)
        recovered = time.monotonic() - killed
    fleet.report("whole worker SIGKILL, then a new one", code, killed)
    assert code == 0, stderr
    fleet.assert_all_closed_once(wanted)
    assert fleet.redelivered()  # the chunks it held, taken again after the timeout
    # Redelivered within the documented bound (timeout + a sweep), and done soon after.
    assert recovered < VISIBILITY_TIMEOUT + 1 + 20, recovered


def test_redis_restarted_mid_run_loses_nothing(fleet: Fleet) -> None:
    wanted = references("REDIS")
    with fleet.workers():
        producer = fleet.producer(wanted)
        fleet.wait_until(lambda: fleet.closed() >= 500)
        fleet.redis.stop(signal.SIGKILL)  # a crash: only the append-only file survives
        crashed = time.monotonic()
        time.sleep(1.0)
        fleet.redis.start()
        code, stderr = finish(producer)
        fleet.report("Redis SIGKILL, restarted 1 s later", code, crashed)
    assert code == 0, stderr
    fleet.assert_all_closed_once(wanted)
    log = fleet.log_text()
    assert "CPendingDeprecationWarning" not in log + stderr
    assert "Connection to broker lost" in log  # it did see Redis go


def test_resume_sends_only_references_without_a_record(fleet: Fleet) -> None:
    wanted = references("RESUME", 1000)
    done = [
        json.dumps({"index": index, "reference": wanted[index], "ok": True}) for index in range(600)
    ]
    fleet.output.write_text("\n".join(done) + '\n{"index": 600, "refer')  # a torn last line
    with fleet.workers():
        code, stderr = finish(fleet.producer(wanted, "--resume"))
    assert code == 0, stderr
    assert "400 closed, 0 not closed (600 had a record already)" in stderr
    records = fleet.records()  # every line parses: the torn one is gone
    assert sorted(record["index"] for record in records) == list(range(1000))
    assert fleet.requests() == 400  # only the 400 without a record were sent
