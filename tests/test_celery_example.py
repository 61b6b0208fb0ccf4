"""The Celery example end to end: real workers in separate processes, OPay over HTTP.

One prefork worker of two pool processes (``celery worker --pool prefork --concurrency
2``) and ``opay-async simulate`` run as subprocesses for the module; the broker is kombu's
filesystem transport and the result backend Celery's file backend, both in a temporary
folder, so nothing needs a server. Every process started is stopped at the end, whatever
happened (see ``examples/celery_worker/local.py``).
"""

from __future__ import annotations

import asyncio
import doctest
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from examples.celery_worker import app as app_module
from examples.celery_worker import local, producer
from examples.celery_worker import output as output_module
from examples.celery_worker.app import app, deliveries_key, records_id
from examples.celery_worker.producer import close_in_chunks
from examples.celery_worker.records import StopMark
from examples.celery_worker.serverless import FileBackend, FilesystemTransport
from opay_async import CloseRecord

PROCESSES = 2
REFERENCES = 10_000
CHUNK = 500


class Run:
    """The simulator and the workers the module's tests share."""

    def __init__(self, simulator: local.Simulator, workers: local.Workers, env: dict[str, str]):
        self.simulator = simulator
        self.workers = workers
        self.env = env


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("celery")
    with local.simulator() as simulator:
        env = {
            "CELERY_BROKER_URL": "filesystem://localhost//",
            "CELERY_DATA_DIR": str(folder / "data"),
            # 20,000 attempts/s for the merchant over the pool's 2 processes (no
            # OPAY_WORKER_PROCESSES: the pool size is used): 10,000/s each, not binding.
            "OPAY_MERCHANT_RATE": "20000",
            "OPAY_CONCURRENCY": "50",
            **simulator.environment,
        }
        local.use_broker(env)
        with local.workers(env, processes=PROCESSES, log=folder / "worker.log") as workers:
            yield Run(simulator, workers, env)
    # Stopped: each pool process closed its client on its way out.
    assert workers.log_text().count("OPay client closed in process") == PROCESSES


def test_ten_thousand_references_over_two_worker_processes(run: Run) -> None:
    # The serverless broker and backend are the ones that publish files whole.
    assert isinstance(app.backend, FileBackend)
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, FilesystemTransport)
    run.simulator.admin("POST", "/reset")
    references = [f"CELERY-{number:05d}" for number in range(REFERENCES)]

    started = time.monotonic()
    chunks = close_in_chunks(iter(references), country="EG", chunk_size=CHUNK, timeout=90)
    records = sorted(  # chunk after chunk, as each is done: a lazy "query" in
        (record for chunk in chunks for record in chunk), key=lambda record: record["index"]
    )
    elapsed = time.monotonic() - started

    # Every reference ends with exactly one record, closed, at its position in the input.
    assert Counter(record["reference"] for record in records) == Counter(references)
    assert [record["index"] for record in records] == list(range(REFERENCES))
    assert all(record["reference"] == references[record["index"]] for record in records)
    assert all(record["ok"] and record["order_status"] == "CLOSE" for record in records)
    assert {record["error"] for record in records} == {None}
    json.dumps(records)  # JSON all through, as Celery carried it

    # The simulator, not the records, says each payment is closed.
    state = run.simulator.admin("GET", "/")
    payments = run.simulator.admin("GET", "/payments")["payments"]
    assert {payment["reference"] for payment in payments} == set(references)
    assert {payment["status"] for payment in payments} == {"CLOSE"}
    assert state["payments"] == state["closed_count"] == REFERENCES
    assert state["request_count"] == REFERENCES  # no retries, no duplicates

    # Both pool processes did a share of the chunks, each on the client it made once.
    worked = run.workers.processes_that_worked()
    assert len(worked) == PROCESSES, worked
    assert sum(worked.values()) == REFERENCES // CHUNK
    log = run.workers.log_text()
    assert log.count("OPay client ready in process") == PROCESSES
    assert "rate_limit=10000/s (merchant 20000/s over 2 processes)" in log
    print(
        f"{REFERENCES} references, {PROCESSES} processes: {elapsed:.1f} s, {len(records)} records"
    )


def test_the_producer_command_closes_a_csv_file(run: Run, tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "examples.celery_worker.producer"),
            *("examples/stale_orders.csv", "--chunk-size", "40", "--output", str(output)),
            *("--timeout", "60"),
        ],
        cwd=local.ROOT,
        env={**os.environ, **run.env, "PYTHONPATH": str(local.ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    records = [json.loads(line) for line in output.read_text().splitlines()]
    # The file's 5 malformed rows fail validation (never sent): exit code 1.
    assert done.returncode == 1, done.stderr
    assert "295 closed, 5 not closed" in done.stderr
    assert len(records) == 300
    assert sorted(record["index"] for record in records) == list(range(300))
    failed = [record for record in records if not record["ok"]]
    assert {record["error_type"] for record in failed} == {"OPayValidationError"}
    assert {record["attempts"] for record in failed} == {0}
    closed = {record["reference"] for record in records if record["ok"]}
    for reference in sorted(closed)[:5]:
        payment = run.simulator.admin("GET", f"/payments/{reference}")
        assert payment["status"] == "CLOSE"


def test_workers_log_no_deprecation_and_no_secret(run: Run) -> None:
    log = run.workers.log_text()
    assert "DeprecationWarning" not in log  # Celery's CPendingDeprecationWarning included
    assert "WARNING/" not in log  # e.g. kombu's for a broker URL without a host
    assert "ERROR/" not in log
    assert "Traceback" not in log
    assert run.env["OPAY_SECRET_KEY"] not in log


@pytest.mark.parametrize("name", ["settings", "producer", "records", "output", "tracing"])
def test_the_examples_docstrings(name: str) -> None:
    module = importlib.import_module(f"examples.celery_worker.{name}")
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted and not failed


def test_the_serverless_broker_and_backend_publish_whole_files(tmp_path: Path) -> None:
    queue = tmp_path / "queue"
    queue.mkdir()
    options = {"data_folder_in": str(queue), "data_folder_out": str(queue)}
    with Connection(
        "filesystem://", transport=FilesystemTransport, transport_options=options
    ) as broker:
        channel = broker.default_channel
        channel._put("chunks", {"body": "x" * 200_000})
        (queue / ".0123.tmp").write_bytes(b'{"half": ')  # a message being written
        assert [path.name.endswith(".chunks.msg") for path in queue.iterdir()].count(True) == 1
        assert channel._size("chunks") == 1
        assert channel._get("chunks") == {"body": "x" * 200_000}
        assert channel._size("chunks") == 0

    results = tmp_path / "results"
    results.mkdir()
    backend = FileBackend(app=app, url=results.as_uri())
    backend.set(b"celery-task-meta-1", b"y" * 200_000)
    assert backend.get(b"celery-task-meta-1") == b"y" * 200_000
    assert sorted(path.name for path in results.iterdir()) == ["celery-task-meta-1"]


def test_use_broker_points_the_producer_at_redis() -> None:
    # A fresh process, configured from a bare environment (the filesystem default), then
    # pointed at Redis: nothing of the filesystem transport may stay set.
    code = (
        "from examples.celery_worker import local\n"
        "from examples.celery_worker.app import app\n"
        "local.use_broker({'CELERY_BROKER_URL': 'redis://127.0.0.1:9/0',"
        " 'CELERY_RESULT_BACKEND': 'redis://127.0.0.1:9/1', 'CELERY_VISIBILITY_TIMEOUT': '60'})\n"
        "connection = app.connection_for_write()\n"
        "print(type(app.backend).__name__, connection.transport.driver_type,"
        " connection.transport_options['visibility_timeout'])\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("CELERY_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=local.ROOT,
        env={**env, "PYTHONPATH": str(local.ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["RedisBackend", "redis", "60.0"]


def test_a_failed_chunk_becomes_failed_records_and_a_stored_one_is_read_once(
    tmp_path: Path,
) -> None:
    backend = FileBackend(app=app, url=tmp_path.as_uri())
    results = producer._Results()
    results.backend = backend
    backend.mark_as_failure("failed-chunk", RuntimeError("no OPay client in this process"))
    backend.store_result(records_id("done-chunk"), [{"index": 5, "ok": True}], "SUCCESS")
    backend.mark_as_retry("done-chunk", RuntimeError("cancelled"))  # Celery's state: ignored
    backend.mark_as_retry("waiting-chunk", RuntimeError("cancelled"))
    assert backend.incr(deliveries_key("done-chunk")) == 1
    assert backend.incr(deliveries_key("done-chunk")) == 2

    done = results.finished(["failed-chunk", "done-chunk", "waiting-chunk", "unknown-chunk"])
    assert sorted(done) == ["done-chunk", "failed-chunk"]
    chunk = producer._Chunk([{"reference": "A-1", "country": "NG"}, "A-2"], [7, 8])
    records = producer._records(done["failed-chunk"], chunk, "EG")
    assert [(r["index"], r["reference"], r["country"]) for r in records] == [
        (7, "A-1", "NG"),
        (8, "A-2", "EG"),
    ]
    assert {r["error_type"] for r in records} == {"RuntimeError"}
    # The shape of every other line of a results file: CloseOutcome.to_record()'s keys.
    assert all(r.keys() == CloseRecord.__annotations__.keys() for r in records)
    assert {r["ok"] for r in records} == {False}
    assert all("no OPay client" in str(r["error"]) for r in records)
    assert producer._records(done["done-chunk"], chunk, "EG") == [{"index": 5, "ok": True}]

    results.forget("done-chunk")  # its records, its state and its count of starts
    results.forget("never-there")  # nothing to remove: no error
    assert results.finished(["done-chunk"]) == {}
    assert backend.incr(deliveries_key("done-chunk")) == 1


def test_resume_reads_the_indexes_written_and_cuts_a_torn_line(tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    output.write_bytes(b'{"index": 0, "ok": true}\n{"index": 2, "ok": false}\n{"index": 3, "o')
    assert set(output_module.written_indexes(output)) == {0, 2}
    assert output.read_bytes() == b'{"index": 0, "ok": true}\n{"index": 2, "ok": false}\n'
    output.write_bytes(b'{"index": 0}\nnot json\n')
    with pytest.raises(ValueError, match="line 2 is not a record"):
        output_module.written_indexes(output)
    output.write_bytes(b"\x00\xff" * 1000 + b"\n")  # binary garbage: refused, not crashed
    with pytest.raises(ValueError, match="line 1 is not a record"):
        output_module.written_indexes(output)


def test_resume_reads_a_large_results_file_a_line_at_a_time(tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    line = b'{"index": %d, "ok": true, "reference": "R-%d"}\n'
    with output.open("wb") as file:
        file.writelines(line % (i, i) for i in range(200_000))  # ~9 MB
        file.write(b'{"index": 200000, "o')  # torn
    tracemalloc.start()
    try:
        indexes = output_module.written_indexes(output)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(indexes) == 200_000
    assert list(indexes) == list(range(200_000))
    assert output.read_bytes().endswith(line % (199_999, 199_999))
    # A bit per index and a line: not the file's 9 MB (it read the file whole once), nor
    # a set of 200,000 ints (about 10 MB: it was one).
    assert peak < 2**18, peak


def test_the_index_set_is_a_set_of_bits_and_a_hostile_index_costs_no_gigabytes() -> None:
    indexes = output_module.IndexSet([5, 0, 5, 2**40, 17])
    assert len(indexes) == 4
    assert list(indexes) == [0, 5, 17, 2**40]
    assert 5 in indexes and 2**40 in indexes
    assert 6 not in indexes and -1 not in indexes and "5" not in indexes
    assert 2**45 not in indexes and 10**9 not in indexes
    copied = indexes.copy()
    copied.add(6)
    assert 6 in copied and 6 not in indexes and len(indexes) == 4
    with pytest.raises(ValueError, match="at least 0"):
        indexes.add(-1)
    tracemalloc.start()
    try:
        # a results file that is not ours: each index far apart, as large as it likes
        output_module.IndexSet(2**60 + step for step in range(1000))
        output_module.IndexSet([2**27 - 1])  # the largest kept as a bit: 16 MiB
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 17 * 2**20, peak


def test_a_results_file_with_a_negative_index_is_not_ours(tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    output.write_bytes(b'{"index": 0}\n{"index": -3}\n')
    with pytest.raises(ValueError, match="line 2 is not a record: an index is at least 0"):
        output_module.written_indexes(output)


def test_resume_refuses_a_file_of_one_enormous_line_without_reading_it_all(tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    with output.open("wb") as file:
        file.write(b"x" * (64 * 2**20))  # 64 MiB, no newline
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="line 1 is not a record: over 65536 bytes"):
            output_module.written_indexes(output)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak
    assert output.stat().st_size == 64 * 2**20  # not ours: left as it was


def test_the_producer_refuses_a_foreign_results_file_with_exit_code_2(tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    output.write_text("reference,country\nA,EG\n")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "examples.celery_worker.producer"),
            *("examples/stale_orders.csv", "--output", str(output), "--resume"),
        ],
        cwd=local.ROOT,
        env={**os.environ, "PYTHONPATH": str(local.ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "line 1 is not a record" in done.stderr
    assert output.read_text() == "reference,country\nA,EG\n"  # left as it was


def test_a_run_that_does_not_complete_exits_3_and_writes_no_record(tmp_path: Path) -> None:
    # No worker serves this folder: nothing is ever done, and the producer says so.
    output = tmp_path / "results.jsonl"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CELERY_")}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "examples.celery_worker.producer"),
            *("examples/stale_orders.csv", "--output", str(output), "--timeout", "1"),
        ],
        cwd=local.ROOT,
        env={**env, "CELERY_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(local.ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == producer.EXIT_INCOMPLETE == 3, done.stderr
    assert "0 closed, 0 not closed" in done.stderr
    assert "the run did not complete: not done in 1 s: 300 references sent have no record" in (
        done.stderr
    )
    assert "run again with --resume" in done.stderr
    assert output.read_text() == ""


@pytest.mark.parametrize("stop", [SystemExit(0), KeyboardInterrupt()], ids=["sigterm", "sigint"])
def test_a_task_that_ends_with_a_stop_stops_the_process(stop: BaseException) -> None:
    # asyncio never returns from run_until_complete() on a task done with SystemExit or
    # KeyboardInterrupt: running it again "to cancel it" hung the process.
    async def broken() -> None:
        raise RuntimeError("a bug")

    with asyncio.Runner() as runner:
        process = app_module._Process(runner, None, None)  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(type(stop)) as caught:
            process.run(_raises(stop))
        assert caught.value is stop
        assert time.monotonic() - started < 5
        with pytest.raises(RuntimeError, match="a bug"):  # and the loop still works
            process.run(broken())


async def _raises(error: BaseException) -> None:
    raise error


def test_a_process_stopped_between_two_steps_cancels_its_work_first() -> None:
    cleaned: list[str] = []

    async def waits() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append("cancelled")

    def stop() -> None:  # as a signal handler does, outside the task
        raise SystemExit(0)

    with asyncio.Runner() as runner:
        process = app_module._Process(runner, None, None)  # type: ignore[arg-type]
        runner.get_loop().call_later(0.01, stop)
        started = time.monotonic()
        with pytest.raises(SystemExit):
            process.run(waits())
    assert cleaned == ["cancelled"]
    assert time.monotonic() - started < 5


def test_resume_sends_again_what_a_stopped_run_left_and_only_that(tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    lines = [
        {"index": 0, "ok": True},
        {"index": 1, "ok": False, "error_type": "AuthenticationError", "error_code": "02000"},
        {"index": 2, "ok": False, "error_type": "RunStoppedError", "error_code": None},
        {"index": 3, "ok": False, "error_type": "PaymentNotFoundError", "error_code": "02006"},
        {"index": 4, "ok": False, "error_type": "OPayHTTPError", "error_code": "HTTP 401"},
        {"index": 5, "ok": False, "error_type": "MerchantNotAvailableError", "error_code": "02007"},
        {"index": 6, "ok": False, "error_type": "OPayTimeoutError", "error_code": None},
    ]
    output.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # Closed, and failures a fixed key cannot change, stay; the stopped and refused go again.
    assert list(output_module.written_indexes(output)) == [0, 3, 6]
    # A resumed run appends their new records: the last record of an index is its own.
    with output.open("a") as file:
        file.write(json.dumps({"index": 1, "ok": True}) + "\n")
        file.write(json.dumps({"index": 2, "ok": False, "error_type": "RunStoppedError"}) + "\n")
    assert list(output_module.written_indexes(output)) == [0, 1, 3, 6]
    output.write_text('{"index": -1, "ok": false, "error_type": "RunStoppedError"}\n')
    with pytest.raises(ValueError, match="line 1 is not a record: an index is at least 0"):
        output_module.written_indexes(output)
    output.write_text('["index", 1]\n')  # JSON, not a record
    with pytest.raises(ValueError, match="line 1 is not a record"):
        output_module.written_indexes(output)


def test_index_sets_forget_what_is_discarded() -> None:
    seen = output_module.IndexSet([0, 9, 2**27 + 5])
    for index in (9, 2**27 + 5, 7, -1):  # present, sparse, absent, never valid
        seen.discard(index)
    assert list(seen) == [0] and len(seen) == 1
    seen.add(9)
    assert 9 in seen and len(seen) == 2


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (
            '{"error_type": "AuthenticationError", "error_code": "02000", "index": 7}',
            "AuthenticationError [02000] at index 7",
        ),
        (
            b'{"error_type": null, "error_code": null, "index": null}',
            "a fatal failure at an unknown index",
        ),
        ("not json", "a fatal failure at an unknown index"),
        (b"\xff\xfe", "a fatal failure at an unknown index"),
        ("[]", "a fatal failure at an unknown index"),
        (None, "a fatal failure at an unknown index"),
        ("x" * 100_000, "a fatal failure at an unknown index"),  # not read at all
        (
            '{"error_type": "Bad\\u001b[31mError", "error_code": "0200\\n0", "index": true}',
            "a fatal failure at an unknown index",  # nothing unprintable, a bool no index
        ),
        (
            '{"error_type": "' + "E" * 500 + '", "error_code": "02000", "index": 3}',
            "E" * 60 + " [02000] at index 3",
        ),
    ],
)
def test_a_stop_mark_read_back_is_parsed_as_hostile_input(stored: object, reason: str) -> None:
    mark = StopMark.parse(stored)
    assert mark.reason == reason
    [record] = mark.not_sent(["SHOP-1"], [41], "EG")
    assert record["error_type"] == "RunStoppedError" and record["retryable"] is True
    assert record["index"] == 41 and record["ok"] is False
    assert f"the run stopped on {reason}" in str(record["error"])


def test_a_dead_key_stops_the_run_on_the_filesystem_broker(run: Run) -> None:
    run.simulator.admin("POST", "/reset")
    run.simulator.admin("POST", "/faults", {"kind": "api_error", "code": "02000", "count": 5})
    references = [f"KEY-{number:04d}" for number in range(2_000)]
    records: list[CloseRecord] = []
    chunks = close_in_chunks(iter(references), country="EG", chunk_size=100, timeout=90)

    def take_all() -> None:
        for chunk in chunks:
            records.extend(chunk)

    with pytest.raises(producer.RunStopped, match=r"AuthenticationError \[02000\] at index"):
        take_all()
    # Every reference has one record; the refused went out, the stopped never did.
    assert sorted(record["index"] for record in records) == list(range(2_000))
    kinds = Counter(str(record["error_type"]) for record in records if not record["ok"])
    assert set(kinds) <= {"AuthenticationError", "RunStoppedError"}
    assert (
        kinds["AuthenticationError"] == 5 - run.simulator.admin("GET", "/faults")["pending_faults"]
    )
    state = run.simulator.admin("GET", "/")
    closed = sum(bool(record["ok"]) for record in records)
    assert state["closed_count"] == closed
    # At most the requests in flight (50 per process, 2 processes) after the first refusal.
    assert state["request_count"] - closed <= 2 * 50
    assert kinds["RunStoppedError"] >= 2_000 - 2 * 50 - closed
    run.simulator.admin("DELETE", "/faults")


def test_ctrl_c_ends_the_producer_with_a_line_and_exit_130_not_a_traceback(tmp_path: Path) -> None:
    # No worker serves this folder: the producer publishes, then waits until interrupted.
    output = tmp_path / "results.jsonl"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CELERY_")}
    running = subprocess.Popen(
        [
            *(sys.executable, "-m", "examples.celery_worker.producer"),
            *("examples/stale_orders.csv", "--output", str(output)),
        ],
        cwd=local.ROOT,
        env={**env, "CELERY_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(local.ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not list((tmp_path / "data").rglob("*.msg")):  # it has published
            assert time.monotonic() < deadline, "nothing published"
            time.sleep(0.05)
        running.send_signal(signal.SIGINT)
        _, stderr = running.communicate(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()
    assert running.returncode == producer.EXIT_INTERRUPTED == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-2:] == [
        "0 closed, 0 not closed",
        "interrupted: the chunks still out go on in the workers; run again with --resume to "
        "write their records",
    ]
