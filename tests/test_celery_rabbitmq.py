"""The Celery example on a real RabbitMQ broker (results on Redis), with faults.

The module starts one RabbitMQ node of its own (Debian's ``rabbitmq-server``, as this
user, on free loopback ports, with its own node name, data folder, Erlang cookie and
``epmd``: ``examples/celery_worker/brokers.py``), shared by its tests and stopped at the
end; each test starts a ``redis-server`` for the results, one prefork worker and the
producer command, against ``opay-async simulate``, with the example's RabbitMQ settings
(publisher confirms, a quorum queue, late acknowledgements, one chunk per process). Then
the faults of the Redis tests: a pool process killed mid-chunk, a chunk that kills its
process at every start, the whole worker killed and started again, and the node itself
SIGKILLed while the producer is publishing and restarted on the same data. Each asserts,
from the simulator's admin API, that every payment is closed and that the results file
has exactly one record per reference (tests/celery_fleet.py).

Skipped when ``rabbitmq-server`` or ``redis-server`` is missing (``apt-get install
rabbitmq-server redis-server``; CI installs them).
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import amqp
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

pytestmark = [
    pytest.mark.skipif(
        not brokers.RABBITMQ_SERVER.exists(),
        reason=f"{brokers.RABBITMQ_SERVER} is missing (apt-get install rabbitmq-server): "
        "RabbitMQ fault tests skipped",
    ),
    pytest.mark.skipif(
        shutil.which("redis-server") is None,
        reason="redis-server is not on PATH (apt-get install redis-server): the RabbitMQ "
        "fault tests keep their results on Redis, skipped",
    ),
]

REFERENCES = 1500
CHUNK = 150
#: The chunks of Celery's default queue, declared by the workers and the producer.
QUEUE = "celery"


@pytest.fixture(scope="module")
def simulator() -> Iterator[local.Simulator]:
    with local.simulator() as running:
        running.set_latency(LATENCY)
        yield running


@pytest.fixture(scope="module")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[brokers.RabbitMQServer]:
    # One node for the module: it takes seconds to start (the node-kill test restarts it).
    with brokers.rabbitmq_server(tmp_path_factory.mktemp("rabbitmq")) as node:
        # Declared now, long before any test kills the node, whichever test runs first: a
        # quorum queue declared just before a SIGKILL does not come back (541 for good).
        node.declare_quorum_queues(QUEUE)
        yield node


class RabbitFleet(Fleet):
    def __init__(
        self,
        folder: Path,
        rabbitmq: brokers.RabbitMQServer,
        redis: brokers.RedisServer,
        simulator: local.Simulator,
    ) -> None:
        broker = {"CELERY_BROKER_URL": rabbitmq.url(), "CELERY_RESULT_BACKEND": redis.url(1)}
        super().__init__(folder, simulator, broker, chunk=CHUNK)
        self.rabbitmq = rabbitmq

    def diagnosis(self) -> str:
        """The ends of the worker's and the node's logs, for a failure's message."""
        tails = [
            f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-40:])
            for log in (*self.logs, self.rabbitmq.log)
            if log.exists()
        ]
        return "\n".join(tails)

    def queue(self) -> dict[str, Any]:
        """The chunks queue: its messages, and the type RabbitMQ declared it with."""
        with amqp.Connection(f"127.0.0.1:{self.rabbitmq.port}") as connection:
            channel: Any = connection.channel()
            _, messages, _ = channel.queue_declare(QUEUE, passive=True)
        # Declaring it again as a classic queue is refused if it is of another type.
        with amqp.Connection(f"127.0.0.1:{self.rabbitmq.port}") as connection:
            channel = connection.channel()
            try:
                channel.queue_declare(
                    QUEUE, durable=True, auto_delete=False, arguments={"x-queue-type": "classic"}
                )
                kind = "classic"
            except amqp.exceptions.PreconditionFailed as refused:
                kind = "quorum" if "'x-queue-type'" in str(refused) else str(refused)
        return {"messages": messages, "type": kind}


@pytest.fixture
def fleet(
    tmp_path: Path, rabbitmq: brokers.RabbitMQServer, simulator: local.Simulator
) -> Iterator[RabbitFleet]:
    simulator.admin("POST", "/reset")
    rabbitmq.purge_queues(QUEUE)  # no chunk of an earlier test (a failed one) is left
    with brokers.redis_server(tmp_path / "redis") as redis:
        yield RabbitFleet(tmp_path, rabbitmq, redis, simulator)


def test_pool_processes_killed_mid_chunk_lose_nothing(fleet: RabbitFleet) -> None:
    pool_processes_killed_mid_chunk(fleet, REFERENCES)


def test_a_chunk_that_keeps_killing_its_process_ends_as_failed_records(
    fleet: RabbitFleet,
) -> None:
    chunk_killing_its_process_at_each_start(fleet)
    assert fleet.queue()["messages"] == 0  # acknowledged with its failed records


def test_a_whole_worker_killed_then_restarted_loses_nothing(fleet: RabbitFleet) -> None:
    recovered = whole_worker_killed_then_restarted(fleet, REFERENCES)
    # RabbitMQ gives a dead connection's chunks back at once: no timeout to wait for.
    assert recovered < 20, recovered


def test_the_node_killed_while_the_producer_publishes_loses_nothing(
    fleet: RabbitFleet,
) -> None:
    # Small chunks, more of them than the producer keeps out (100): it publishes all
    # through the run, one chunk for each chunk done.
    fleet.chunk = 30
    count = 6000
    wanted = references("RABBIT", count)
    with fleet.workers():
        producer = fleet.producer(wanted)
        fleet.wait_for_requests(60)  # the first chunks run; the producer is publishing
        fleet.rabbitmq.stop(signal.SIGKILL)  # a crash: only what is on disk survives
        crashed = time.monotonic()
        written = len(fleet.output.read_bytes().splitlines())
        time.sleep(2.0)
        fleet.rabbitmq.start()
        code, stderr = finish(producer, timeout=120)
        fleet.report("RabbitMQ node SIGKILL, restarted 2 s later", code, crashed)
    assert written < count - 100 * fleet.chunk  # chunks were still to be published
    assert code == 0, stderr + fleet.diagnosis()
    fleet.assert_all_closed_once(wanted)
    log = fleet.log_text()
    assert "Connection to broker lost" in log  # it did see the node go
    assert "INTERNAL_ERROR" not in log  # the queue came back (see declare_quorum_queues)
    assert "DeprecationWarning" not in log + stderr


def test_resume_sends_only_references_without_a_record(fleet: RabbitFleet) -> None:
    log = resume_after_a_torn_line(fleet)
    # The settings of docs/bulk.md: a quorum queue, each process one chunk at a time
    # (per-consumer prefetch, which quorum queues need), and nothing to warn about.
    assert fleet.queue() == {"messages": 0, "type": "quorum"}
    assert "Global QoS is disabled. Prefetch count is now static." in log
    assert "WARNING/" not in log
    assert "ERROR/" not in log


def test_a_dead_key_stops_the_fleet_and_resume_sends_exactly_the_rest(fleet: RabbitFleet) -> None:
    counts = dead_key_stops_the_fleet(fleet, 2 * REFERENCES, closes=500)
    print(f"\nrequests after the first 02000: {counts['after_first_refusal']}")
