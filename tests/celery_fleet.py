"""A fleet for the Celery example's fault tests: a broker, workers, the producer command.

Shared by the tests on Redis (tests/test_celery_redis.py) and on RabbitMQ
(tests/test_celery_rabbitmq.py): each gives it the broker and result backend as
``CELERY_*`` variables; it starts workers and the producer command as subprocesses
against ``opay-async simulate``, and asserts, from the simulator's admin API and the
results file, that every payment is closed and every reference has exactly one record.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from examples.celery_worker import local

LATENCY = 0.01  # seconds per close: 10 in flight per process, so ~1,000 closes/s at most
EXIT_INCOMPLETE = 3


class Fleet:
    """A broker's environment, workers, the simulator, and the producer command, in a folder."""

    def __init__(
        self,
        folder: Path,
        simulator: local.Simulator,
        broker: Mapping[str, str],
        *,
        chunk: int,
    ) -> None:
        self.folder = folder
        self.simulator = simulator
        self.chunk = chunk
        self.env = {"OPAY_CONCURRENCY": "10", **broker, **simulator.environment}
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
        # The root, then the test's own path, as the workers have it (local.workers).
        path = os.pathsep.join(filter(None, [str(local.ROOT), os.environ.get("PYTHONPATH")]))
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "examples.celery_worker.producer", str(source)),
                *("--country", "EG", "--chunk-size", str(self.chunk), "--timeout", "60"),
                *("--output", str(self.output), *extra),
            ],
            cwd=local.ROOT,
            env={**os.environ, **self.env, "PYTHONPATH": path},
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
        if not self.output.exists():
            return []
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
        """One line for the fault tables of docs/bulk.md (shown with pytest -s)."""
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


def finish(producer: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        _, stderr = producer.communicate(timeout=timeout)
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.communicate()
    return producer.returncode, stderr


def references(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{number:05d}" for number in range(count)]


def wait_for_deaths(workers: local.Workers, deaths: list[re.Pattern[str]]) -> str:
    """The worker's log once it shows each of ``deaths`` (or after 10 s): the pool logs a
    child's death when it reaps it, which may come after the run."""
    deadline = time.monotonic() + 10
    while not all(death.search(workers.log_text()) for death in deaths):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return workers.log_text()


# The faults of docs/bulk.md's tables, each on a fleet of any broker. Each asserts what
# must hold on every broker; the tests add what their broker promises besides.


def pool_processes_killed_mid_chunk(fleet: Fleet, count: int) -> None:
    """One pool process SIGKILLed mid-chunk (as the OOM killer does), the other SIGTERMed."""
    wanted = references("CHILD", count)
    with fleet.workers() as workers:
        first, second = workers.children()
        producer = fleet.producer(wanted)
        fleet.wait_until(lambda: fleet.closed() >= 200)  # both processes are in a chunk
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        fleet.wait_until(lambda: fleet.closed() >= 700)
        os.kill(second, signal.SIGTERM)
        code, stderr = finish(producer)
        fleet.report("pool processes SIGKILLed and SIGTERMed", code, killed)
        assert code == 0, stderr
        assert f"{count} closed, 0 not closed" in stderr
        fleet.assert_all_closed_once(wanted)
        # SIGTERM either kills the child outright, or billiard's handler turns it into
        # SystemExit(-241), the child unwinds and exits with code 15.
        deaths = [
            re.compile(rf"pid:{first} exited with 'signal 9 \(SIGKILL\)'"),
            re.compile(rf"pid:{second} exited with '(signal 15 \(SIGTERM\)|exitcode 15)'"),
        ]
        log = wait_for_deaths(workers, deaths)
    exits = [line for line in log.splitlines() if "exited with" in line or "Lost" in line]
    for death in deaths:
        assert death.search(log), exits
    # The SIGKILLed process's chunk ran again; so did the other's, unless that one was
    # killed in the moment between two chunks.
    assert 1 <= len(fleet.redelivered()) <= 2


def chunk_killing_its_process_at_each_start(fleet: Fleet) -> None:
    """A chunk whose process is killed at each start: capped, then failed records."""
    wanted = references("POISON", fleet.chunk)  # one chunk
    fleet.simulator.set_latency(0.2)  # 150 closes, 10 at a time: 3 s per start
    try:
        with fleet.workers(processes=1, CELERY_MAX_DELIVERIES="2") as workers:
            producer = fleet.producer(wanted)
            kills: list[float] = []
            for _ in range(2):  # kill the process in each of the chunk's two starts
                fleet.wait_for_requests(fleet.requests() + 5)  # it is in the chunk
                os.kill(workers.children()[0], signal.SIGKILL)
                kills.append(time.monotonic())
                time.sleep(0.3)  # what was in flight lands
            code, stderr = finish(producer)
            fleet.report("a chunk killing its process at each start (second kill)", code, kills[1])
    finally:
        fleet.simulator.set_latency(LATENCY)
    assert code == 1, stderr
    assert f"0 closed, {fleet.chunk} not closed" in stderr
    records = fleet.records()
    assert [record["index"] for record in records] == list(range(fleet.chunk))
    assert {record["error_type"] for record in records} == {"WorkerLostError"}
    assert {record["retryable"] for record in records} == {True}
    assert all("started 2 times and never finished" in str(record["error"]) for record in records)
    # The third start closed nothing: the simulator saw only the two killed ones.
    assert fleet.closed() < fleet.chunk


def whole_worker_killed_then_restarted(fleet: Fleet, count: int) -> float:
    """The whole worker SIGKILLed, a new one started; seconds from the kill to the end."""
    wanted = references("WORKER", count)
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
    assert fleet.redelivered()  # the chunks it held, taken again
    return recovered


def resume_after_a_torn_line(fleet: Fleet) -> str:
    """``--resume`` after a producer killed mid-line sends only what has no record."""
    wanted = references("RESUME", 1000)
    done = [
        json.dumps({"index": index, "reference": wanted[index], "ok": True}) for index in range(600)
    ]
    fleet.output.write_text("\n".join(done) + '\n{"index": 600, "refer')  # a torn last line
    with fleet.workers() as workers:
        code, stderr = finish(fleet.producer(wanted, "--resume"))
        log = workers.log_text()
    assert code == 0, stderr
    assert "400 closed, 0 not closed (600 had a record already)" in stderr
    records = fleet.records()  # every line parses: the torn one is gone
    assert sorted(record["index"] for record in records) == list(range(1000))
    assert fleet.requests() == 400  # only the 400 without a record were sent
    return log


def current_records(fleet: Fleet) -> dict[int, dict[str, Any]]:
    """Each index's current record: its last line (a ``--resume`` appends a newer one)."""
    return {int(record["index"]): record for record in fleet.records()}


def dead_key_stops_the_fleet(fleet: Fleet, count: int, closes: int) -> dict[str, int]:
    """The key dies after ``closes`` closes: the fleet stops, then ``--resume`` ends the job.

    The simulator answers ``02000`` to every request from then on (scheduled refusals, as
    OPay answers once a merchant's key is rotated); "fixing the key" clears them. Returns
    the counts the docs quote: requests refused and sent after the first refusal.
    """
    wanted = references("DEAD", count)
    refusals = 10_000  # the simulator's most; the stop must leave most of them unused
    with fleet.workers() as workers:
        producer = fleet.producer(wanted)
        fleet.wait_until(lambda: fleet.closed() >= closes)
        fleet.simulator.admin(
            "POST", "/faults", {"kind": "api_error", "code": "02000", "count": refusals}
        )
        died = time.monotonic()
        code, stderr = finish(producer)
        fleet.report("the key dead mid-run", code, died)
        refused = refusals - fleet.simulator.admin("GET", "/faults")["pending_faults"]
        closed_then = fleet.closed()
        assert code == 4, stderr  # EXIT_STOPPED
        assert "the run stopped on AuthenticationError [02000] at index" in stderr, stderr
        records = fleet.records()
        # One record per reference, each at its index, the closed ones closed indeed.
        assert Counter(record["index"] for record in records) == Counter(range(count))
        ok = {record["reference"] for record in records if record["ok"]}
        payments = fleet.simulator.admin("GET", "/payments")["payments"]
        assert {p["reference"] for p in payments if p["status"] == "CLOSE"} == ok
        assert len(ok) == closed_then >= closes
        failed = Counter(record["error_type"] for record in records if not record["ok"])
        assert set(failed) == {"AuthenticationError", "RunStoppedError"}, failed
        assert failed["AuthenticationError"] == refused  # each refusal is one record
        # Not sent means not sent: the stopped records' references never reached OPay.
        stopped = {r["reference"] for r in records if r["error_type"] == "RunStoppedError"}
        seen = {p["reference"] for p in payments}
        assert not stopped & seen
        # At most the requests in flight when the first refusal came: 10 per process.
        assert refused - 1 <= 2 * 10, refused
        log = workers.log_text()
    assert "not sent: the run stopped on AuthenticationError [02000]" in log  # queued chunks
    # Fixed: the same command with --resume sends exactly the rows not closed, once each.
    fleet.simulator.admin("DELETE", "/faults")
    before = fleet.requests()
    with fleet.workers():
        code, stderr = finish(fleet.producer(wanted, "--resume"))
    assert code == 0, stderr
    assert f"{count - len(ok)} closed, 0 not closed ({len(ok)} had a record already)" in stderr
    assert fleet.requests() - before == count - len(ok)
    latest = current_records(fleet)
    assert sorted(latest) == list(range(count))
    assert {record["ok"] for record in latest.values()} == {True}
    assert fleet.closed() == count
    return {"refused": refused, "after_first_refusal": refused - 1}
