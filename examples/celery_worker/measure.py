"""Closes per second of Celery worker processes against the simulator with 50 ms latency.

    python -m examples.celery_worker.measure --references 20000 --rounds 3
    python -m examples.celery_worker.measure --broker redis  # a redis-server of its own

For each round and each pool size (interleaved, so a busy moment of the machine hits
both), it starts one prefork worker of that many processes (not timed), sends the
references in chunks with the example's producer, and times from the first chunk sent
to the last record read: closes/s = references / seconds, end to end (broker and result
backend included). It prints each round, then the median per pool size. The simulator
runs as ``opay-async simulate`` on loopback, answering every close after ``--latency``
seconds. The broker and result backend are the filesystem ones (``--broker file``), or
a ``redis-server`` it starts on a free loopback port with an append-only file fsynced at
every write (``--broker redis``: the production setting of docs/bulk.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from . import local
from .producer import close_in_chunks
from .settings import DEFAULT_BROKER_URL, DEFAULT_CONCURRENCY


def _cpu_seconds(pid: int) -> float | None:
    """CPU time a process used so far (Linux ``/proc``), else ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_once(
    simulator: local.Simulator,
    env: dict[str, str],
    *,
    processes: int,
    references: int,
    chunk_size: int,
    log: Path,
) -> tuple[float, float | None]:
    """One timed run: closes per second, and the simulator's share of a core meanwhile."""
    simulator.admin("POST", "/reset")
    with local.workers(env, processes=processes, log=log):
        items = (f"MEASURE-{number}" for number in range(references))
        cpu_before = _cpu_seconds(simulator.pid)
        started = time.monotonic()
        chunks = close_in_chunks(items, country="EG", chunk_size=chunk_size, timeout=600)
        records = sum(len(records) for records in chunks)
        elapsed = time.monotonic() - started
        cpu_after = _cpu_seconds(simulator.pid)
    closed = simulator.admin("GET", "/")["closed_count"]
    if records != references or closed != references:
        raise RuntimeError(f"{records} records and {closed} closed for {references} references")
    busy = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / elapsed
    return references / elapsed, busy


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print each round and the medians."""
    parser = argparse.ArgumentParser(prog="python -m examples.celery_worker.measure")
    parser.add_argument("--references", type=int, default=20_000, help="per run")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="pool sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per close")
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--broker", choices=["file", "redis"], default="file")
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="in flight per process"
    )
    args = parser.parse_args(argv)
    rates: dict[int, list[float]] = {processes: [] for processes in args.processes}
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        simulator = stack.enter_context(local.simulator())
        simulator.set_latency(args.latency)
        broker = {"CELERY_BROKER_URL": DEFAULT_BROKER_URL}
        if args.broker == "redis":
            redis = stack.enter_context(local.redis_server(Path(folder) / "redis"))
            broker = {"CELERY_BROKER_URL": redis.url(0), "CELERY_RESULT_BACKEND": redis.url(1)}
        env = {
            **broker,
            "CELERY_DATA_DIR": str(Path(folder) / "data"),
            "OPAY_CONCURRENCY": str(args.concurrency),
            **simulator.environment,
        }
        local.use_broker(env)
        print(
            f"{args.broker} broker, {args.references} references, chunks of {args.chunk_size}, "
            f"concurrency "
            f"{args.concurrency} per process, latency {args.latency * 1000:g} ms, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        for round_number in range(1, args.rounds + 1):
            for processes in args.processes:
                rate, busy = measure_once(
                    simulator,
                    env,
                    processes=processes,
                    references=args.references,
                    chunk_size=args.chunk_size,
                    log=Path(folder) / f"worker-{round_number}-{processes}.log",
                )
                rates[processes].append(rate)
                core = "" if busy is None else f", simulator at {busy:.0%} of a core"
                print(
                    f"round {round_number}: {processes} process(es): {rate:,.0f} closes/s{core}",
                    flush=True,
                )
    for processes, measured in rates.items():
        print(
            f"median of {len(measured)}: {processes} process(es): "
            f"{statistics.median(measured):,.0f} closes/s "
            f"(range {min(measured):,.0f}-{max(measured):,.0f})"
        )


if __name__ == "__main__":
    main()
