"""A fleet's closes per second against one process's ``close_many``, on Redis and RabbitMQ.

    python -m examples.celery_worker.measure                    # both brokers, 3 rounds
    python -m examples.celery_worker.measure --brokers redis --rounds 5

Against the simulator (``opay-async simulate`` on loopback, answering every close after
``--latency`` seconds), at the same total concurrency: one process runs ``close_many``
at ``--processes`` x ``--concurrency`` requests in flight; the fleet is one prefork
worker of ``--processes`` pool processes, each with ``--concurrency`` in flight. Each
round measures the one process, then the fleet on each broker (interleaved, so that a
busy moment of the machine hits them alike), and prints the fleet's ratio to the one
process of the same round; the medians and ranges follow.

The fleet is timed end to end, from the first chunk sent to the last record read by
the example's producer (broker, result backend and the producer's reading included);
its worker is started before, untimed, as a deployed worker would be. The one process
is timed from its first request to its last outcome, its client made before. The
brokers are a ``redis-server`` and a RabbitMQ node started here on free loopback ports
(the production settings of docs/bulk.md: an append-only file fsynced at every write;
publisher confirms into a quorum queue), results on that Redis; ``file`` is the
filesystem broker and file backend. A broker whose server is not installed is left out,
saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from opay_async import OPayClient

from . import brokers, local
from .producer import DEFAULT_CHUNK_SIZE, close_in_chunks
from .settings import DEFAULT_BROKER_URL, DEFAULT_CONCURRENCY

BROKERS = ("redis", "rabbitmq", "file")


def _cpu_seconds(pid: int) -> float | None:
    """CPU time a process used so far (Linux ``/proc``), else ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _references(count: int, prefix: str) -> list[str]:
    return [f"{prefix}-{number}" for number in range(count)]


def one_process(
    simulator: local.Simulator, *, references: int, concurrency: int, round_number: int
) -> float:
    """Closes per second of ``close_many`` in this process."""
    simulator.admin("POST", "/reset")
    wanted = _references(references, f"ONE{round_number}")

    async def run() -> float:
        async with OPayClient(
            merchant_id=simulator.merchant_id,
            secret_key=simulator.environment["OPAY_SECRET_KEY"],
            base_url=simulator.base_url,
        ) as opay:
            started = time.monotonic()
            outcomes = await opay.close_many(wanted, country="EG", concurrency=concurrency)
            elapsed = time.monotonic() - started
        if sum(outcome.ok for outcome in outcomes) != references:
            raise RuntimeError("one process: not every payment closed")
        return elapsed

    elapsed = asyncio.run(run())
    _check_closed(simulator, references)
    return references / elapsed


def fleet(
    simulator: local.Simulator,
    env: dict[str, str],
    *,
    processes: int,
    references: int,
    chunk_size: int,
    log: Path,
) -> tuple[float, float | None]:
    """One timed fleet run: closes per second, and the simulator's share of a core.

    The producer runs in a process of its own, as in production (and because Celery
    keeps an app's broker connections and queues once made: one per broker).
    """
    simulator.admin("POST", "/reset")
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, nothing inherited
    with (
        local.workers(env, processes=processes, log=log),
        concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as producer,
    ):
        rate, busy = producer.submit(
            produce, env, references=references, chunk_size=chunk_size, simulator=simulator.pid
        ).result()
    _check_closed(simulator, references)
    return rate, busy


def produce(
    env: dict[str, str], *, references: int, chunk_size: int, simulator: int
) -> tuple[float, float | None]:
    """In the producer's process: send the references, read every record; the rate."""
    local.use_broker(env)
    items = iter(_references(references, "FLEET"))
    cpu_before = _cpu_seconds(simulator)
    started = time.monotonic()
    chunks = close_in_chunks(items, country="EG", chunk_size=chunk_size, timeout=600)
    records = sum(len(records) for records in chunks)
    elapsed = time.monotonic() - started
    cpu_after = _cpu_seconds(simulator)
    if records != references:
        raise RuntimeError(f"{records} records for {references} references")
    busy = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / elapsed
    return references / elapsed, busy


def _check_closed(simulator: local.Simulator, references: int) -> None:
    closed = simulator.admin("GET", "/")["closed_count"]
    if closed != references:
        raise RuntimeError(f"{closed} closed for {references} references")


def _spread(values: list[float], unit: str, digits: int) -> str:
    return (
        f"median {statistics.median(values):,.{digits}f}{unit} (range "
        f"{min(values):,.{digits}f}-{max(values):,.{digits}f}{unit}, {len(values)} rounds)"
    )


def _environments(
    stack: contextlib.ExitStack, wanted: Sequence[str], folder: Path
) -> dict[str, dict[str, str]]:
    """Each broker's ``CELERY_*`` variables, its servers started; one left out is said."""
    found: dict[str, dict[str, str]] = {}
    redis: brokers.RedisServer | None = None
    if {"redis", "rabbitmq"} & set(wanted):
        if shutil.which("redis-server") is None:
            print("redis-server is not installed: Redis and RabbitMQ left out", flush=True)
        else:
            redis = stack.enter_context(brokers.redis_server(folder / "redis"))
    if "redis" in wanted and redis is not None:
        found["redis"] = {"CELERY_BROKER_URL": redis.url(0), "CELERY_RESULT_BACKEND": redis.url(1)}
    if "rabbitmq" in wanted and redis is not None:
        if not brokers.RABBITMQ_SERVER.exists():
            print(f"{brokers.RABBITMQ_SERVER} is missing: RabbitMQ left out", flush=True)
        else:
            node = stack.enter_context(brokers.rabbitmq_server(folder / "rabbitmq"))
            found["rabbitmq"] = {
                "CELERY_BROKER_URL": node.url(),
                "CELERY_RESULT_BACKEND": redis.url(2),
            }
    if "file" in wanted:
        found["file"] = {
            "CELERY_BROKER_URL": DEFAULT_BROKER_URL,
            "CELERY_DATA_DIR": str(folder / "data"),
        }
    return found


def main(argv: Sequence[str] | None = None) -> None:
    """Measure; print each round, then the medians and the ratios."""
    parser = argparse.ArgumentParser(prog="python -m examples.celery_worker.measure")
    parser.add_argument("--references", type=int, default=20_000, help="per run")
    parser.add_argument("--processes", type=int, default=2, help="the fleet's pool size")
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="in flight per process"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per close")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument(
        "--brokers", nargs="+", choices=BROKERS, default=["redis", "rabbitmq"], metavar="BROKER"
    )
    args = parser.parse_args(argv)
    total = args.processes * args.concurrency
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        environments = _environments(stack, args.brokers, folder)
        simulator = stack.enter_context(local.simulator())
        simulator.set_latency(args.latency)
        print(
            f"{args.references:,} references, latency {args.latency * 1000:g} ms, total "
            f"concurrency {total}: one process's close_many at {total}, and a fleet of "
            f"{args.processes} processes x {args.concurrency} (chunks of {args.chunk_size}); "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        alone: list[float] = []
        rates: dict[str, list[float]] = {name: [] for name in environments}
        ratios: dict[str, list[float]] = {name: [] for name in environments}
        for round_number in range(1, args.rounds + 1):
            rate = one_process(
                simulator, references=args.references, concurrency=total, round_number=round_number
            )
            alone.append(rate)
            line = [f"round {round_number}: one process {rate:,.0f}/s"]
            for name, broker in environments.items():
                env = {**broker, "OPAY_CONCURRENCY": str(args.concurrency), **simulator.environment}
                fleet_rate, busy = fleet(
                    simulator,
                    env,
                    processes=args.processes,
                    references=args.references,
                    chunk_size=args.chunk_size,
                    log=folder / f"worker-{name}-{round_number}.log",
                )
                rates[name].append(fleet_rate)
                ratios[name].append(fleet_rate / rate)
                core = "" if busy is None else f", simulator {busy:.0%} of a core"
                line.append(f"{name} fleet {fleet_rate:,.0f}/s ({fleet_rate / rate:.2f}x{core})")
            print("; ".join(line), flush=True)
    print(f"one process, close_many at {total}: {_spread(alone, '/s', 0)}")
    for name in environments:
        print(
            f"{name} fleet, {args.processes} x {args.concurrency}: "
            f"{_spread(rates[name], '/s', 0)}; "
            f"fleet / one process: {_spread(ratios[name], 'x', 2)}"
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
