"""The Celery example on a real Redis broker and result backend, with faults.

Each test starts its own ``redis-server`` on a free loopback port (append-only file,
fsynced at every write: what docs/bulk.md recommends), one prefork worker, and the
producer command as a subprocess, against ``opay-async simulate`` over HTTP; then it
does what an operator's bad day does: a pool process killed mid-chunk, the whole worker
killed and started again, Redis crashed and restarted. Each asserts, from the
simulator's admin API, that every payment is closed, that the results file has exactly
one record per reference, and the producer's exit code (tests/celery_fleet.py).

Skipped when ``redis-server`` is not on PATH (``apt-get install redis-server``; CI
installs it).
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.celery_worker import brokers, local
from tests.celery_fleet import (
    LATENCY,
    Fleet,
    chunk_killing_its_process_at_each_start,
    dead_key_stops_the_fleet,
    finish,
    pool_processes_killed_mid_chunk,
    references,
    resume_after_a_torn_line,
    whole_worker_killed_then_restarted,
)

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not on PATH (apt-get install redis-server): Redis fault tests skipped",
)

REFERENCES = 1500
CHUNK = 150
VISIBILITY_TIMEOUT = 4  # seconds; the chunks here take about one


@pytest.fixture(scope="module")
def simulator() -> Iterator[local.Simulator]:
    with local.simulator() as running:
        running.set_latency(LATENCY)
        yield running


class RedisFleet(Fleet):
    def __init__(self, folder: Path, redis: brokers.RedisServer, simulator: local.Simulator):
        broker = {
            "CELERY_BROKER_URL": redis.url(0),
            "CELERY_RESULT_BACKEND": redis.url(1),
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        }
        super().__init__(folder, simulator, broker, chunk=CHUNK)
        self.redis = redis


@pytest.fixture
def fleet(tmp_path: Path, simulator: local.Simulator) -> Iterator[RedisFleet]:
    simulator.admin("POST", "/reset")
    with brokers.redis_server(tmp_path / "redis") as redis:
        yield RedisFleet(tmp_path, redis, simulator)


def test_pool_processes_killed_mid_chunk_lose_nothing(fleet: RedisFleet) -> None:
    pool_processes_killed_mid_chunk(fleet, REFERENCES)


def test_a_chunk_that_keeps_killing_its_process_ends_as_failed_records(fleet: RedisFleet) -> None:
    chunk_killing_its_process_at_each_start(fleet)


def test_a_whole_worker_killed_then_restarted_loses_nothing(fleet: RedisFleet) -> None:
    recovered = whole_worker_killed_then_restarted(fleet, REFERENCES)
    # Redelivered within the documented bound (timeout + a sweep), and done soon after.
    assert recovered < VISIBILITY_TIMEOUT + 1 + 20, recovered


def test_redis_restarted_mid_run_loses_nothing(fleet: RedisFleet) -> None:
    wanted = references("REDIS", REFERENCES)
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


def test_resume_sends_only_references_without_a_record(fleet: RedisFleet) -> None:
    resume_after_a_torn_line(fleet)


def test_a_dead_key_stops_the_fleet_and_resume_sends_exactly_the_rest(fleet: RedisFleet) -> None:
    counts = dead_key_stops_the_fleet(fleet, 2 * REFERENCES, closes=500)
    print(f"\nrequests after the first 02000: {counts['after_first_refusal']}")
