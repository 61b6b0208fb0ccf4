"""Bulk close benchmark: opay-async against raw httpx and raw aiohttp.

    python benchmarks/bulk_close.py                  # tables at C=100 and C=10, memory run
    python benchmarks/bulk_close.py --quick          # a smoke run (N=300, one round)
    python benchmarks/bulk_close.py --markdown docs/_bench.md \\
        --chart docs/closes_per_second.png --chart-concurrency 10,25,50,100

A loopback HTTP/1.1 keep-alive server (processes of its own, see ``_server.py``) answers
every close after ``--latency`` seconds. Four contenders each close N payments at
concurrency C: raw httpx and raw aiohttp (a semaphore and ``asyncio.gather``, the request
signed by hand) and ``OPayClient.close_many`` on each backend. Every run is a fresh
process, so its CPU time and peak RSS are its own and no run warms another; each does a
short warm-up before the timed part. Runs are interleaved, in an order that rotates, for
``--rounds`` rounds; the tables show the median closes/s and CPU per close and the
highest peak RSS. The memory run streams ``iter_close_many`` over a lazily generated
input of each ``--memory-sizes`` length: peak RSS must not grow with the input.

Absolute numbers depend on the machine: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import hashlib
import hmac
import importlib.metadata
import json
import math
import os
import platform
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
PATH: Final = "/api/v1/international/payment/close"
MERCHANT: Final = "256612345678901"
KEY: Final = "OPAYPRV_benchmark_key"

CONTENDERS: Final = ("raw-httpx", "raw-aiohttp", "sdk-httpx", "sdk-aiohttp")
LABELS: Final = {
    "raw-httpx": "raw httpx",
    "raw-aiohttp": "raw aiohttp",
    "sdk-httpx": "SDK (httpx)",
    "sdk-aiohttp": "SDK (aiohttp)",
}
#: The targets comparing the SDK with the raw client on the same library:
#: (C, SDK contender, raw contender, "rate" or "cpu", goal, whether the goal is a maximum).
PAIR_TARGETS: Final = (
    (100, "sdk-httpx", "raw-httpx", "rate", 4.0, False),
    (100, "sdk-httpx", "raw-httpx", "cpu", 0.3, True),
    (10, "sdk-httpx", "raw-httpx", "rate", 0.95, False),
    (100, "sdk-aiohttp", "raw-aiohttp", "rate", 0.7, False),
)
#: Failure messages a worker reports (the count is always complete).
ERRORS_KEPT: Final = 5


# -- the contenders: each runs in a fresh process (``--_worker``) -----------------------


def signed(reference: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one close, signed as the SDK signs it."""
    body = json.dumps(
        {"country": "EG", "reference": reference}, separators=(",", ":"), sort_keys=True
    ).encode()
    signature = hmac.new(KEY.encode(), body, hashlib.sha512).hexdigest()
    headers = {
        "Authorization": f"Bearer {signature}",
        "MerchantId": MERCHANT,
        "Content-Type": "application/json",
    }
    return body, headers


@dataclass
class Tally:
    """Closes that succeeded and failed in one batch, with the first failures' messages."""

    ok: int = 0
    failed: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    def fail(self, reference: str, message: str) -> None:
        self.failed += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(f"{reference}: {message}")

    def check_answer(self, reference: str, status: int, content: bytes) -> None:
        """Count a raw answer: it must be the OPay success JSON for ``reference``."""
        try:
            answer = json.loads(content)
            data = answer["data"]
            good = (
                status == 200
                and answer["code"] == "00000"
                and data["orderStatus"] == "CLOSE"
                and data["reference"] == reference
            )
        except (ValueError, KeyError, TypeError) as error:
            self.fail(reference, f"unreadable answer ({error!r}): {content[:120]!r}")
            return
        if good:
            self.ok += 1
        else:
            self.fail(reference, f"HTTP {status}: {content[:120]!r}")


Batch = Callable[[list[str]], Awaitable[Tally]]


async def raw_httpx(
    url: str, concurrency: int, measure: Callable[[Batch], Awaitable[Tally]]
) -> Tally:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def batch(references: list[str]) -> Tally:
            tally = Tally()

            async def one(reference: str) -> None:
                try:
                    async with semaphore:
                        body, headers = signed(reference)
                        response = await client.post(url, content=body, headers=headers)
                    tally.check_answer(reference, response.status_code, response.content)
                except Exception as error:
                    tally.fail(reference, repr(error))

            await asyncio.gather(*(one(reference) for reference in references))
            return tally

        return await measure(batch)


async def raw_aiohttp(
    url: str, concurrency: int, measure: Callable[[Batch], Awaitable[Tally]]
) -> Tally:
    import aiohttp

    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def batch(references: list[str]) -> Tally:
            tally = Tally()

            async def one(reference: str) -> None:
                try:
                    async with semaphore:
                        body, headers = signed(reference)
                        async with session.post(url, data=body, headers=headers) as response:
                            content = await response.read()
                    tally.check_answer(reference, response.status, content)
                except Exception as error:
                    tally.fail(reference, repr(error))

            await asyncio.gather(*(one(reference) for reference in references))
            return tally

        return await measure(batch)


def count_outcome(tally: Tally, reference: str, outcome: Any) -> None:
    """Count one ``CloseOutcome``: it must be a closed payment for ``reference``."""
    tally.retries += max(0, outcome.attempts - 1)
    if not outcome.ok:
        tally.fail(reference, repr(outcome.error))
    elif not outcome.payment.is_closed or outcome.payment.reference != reference:
        tally.fail(reference, f"unexpected payment {outcome.payment!r}")
    else:
        tally.ok += 1


async def sdk(
    base_url: str, concurrency: int, backend: str, measure: Callable[[Batch], Awaitable[Tally]]
) -> Tally:
    from opay_async import OPayClient

    async with OPayClient(
        MERCHANT,
        KEY,
        base_url=base_url,
        backend=backend,  # type: ignore[arg-type]
        max_connections=concurrency,
    ) as opay:

        async def batch(references: list[str]) -> Tally:
            tally = Tally()
            outcomes = await opay.close_many(references, country="EG", concurrency=concurrency)
            if len(outcomes) != len(references):
                tally.fail("*", f"{len(outcomes)} outcomes for {len(references)} references")
            for reference, outcome in zip(references, outcomes, strict=False):
                count_outcome(tally, reference, outcome)
            return tally

        return await measure(batch)


async def stream(base_url: str, items: int, concurrency: int, backend: str) -> Tally:
    """``iter_close_many`` over a generator of ``items`` references; nothing kept."""
    from opay_async import OPayClient

    def references() -> Iterator[str]:
        for number in range(items):
            yield f"MEM-{number}"

    tally = Tally()
    async with OPayClient(
        MERCHANT,
        KEY,
        base_url=base_url,
        backend=backend,  # type: ignore[arg-type]
        max_connections=concurrency,
    ) as opay:
        outcomes = opay.iter_close_many(references(), country="EG", concurrency=concurrency)
        async with contextlib.aclosing(outcomes):  # type: ignore[type-var]
            async for outcome in outcomes:
                count_outcome(tally, f"MEM-{outcome.index}", outcome)
    return tally


def peak_rss_mib() -> float:
    """This process's own peak resident memory (MiB).

    ``ru_maxrss`` is no good here: Linux carries the parent's peak over the fork and
    exec that start this process (a parent of 300 MiB makes every child report 300 MiB),
    so read the high-water mark of this process's memory map where there is one.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes there, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run what ``spec`` says in this process; return the measurements."""
    contender: str = spec["contender"]
    concurrency: int = spec["concurrency"]
    n: int = spec["n"]
    timing: dict[str, float] = {}

    if contender == "memory":
        started, cpu = time.perf_counter(), time.process_time()
        tally = asyncio.run(stream(spec["base_url"], n, concurrency, spec["backend"]))
        timing.update(wall=time.perf_counter() - started, cpu=time.process_time() - cpu)
    else:
        references = [f"REF-{number}" for number in range(n)]
        warm_up = [f"WARM-{number}" for number in range(spec["warm_up"])]

        async def measure(batch: Batch) -> Tally:
            warm = await batch(warm_up)
            wall, cpu = time.perf_counter(), time.process_time()
            tally = await batch(references)
            timing.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)
            tally.failed += warm.failed
            tally.errors += [f"(warm-up) {error}" for error in warm.errors]
            return tally

        base_url: str = spec["base_url"]
        if contender == "raw-httpx":
            tally = asyncio.run(raw_httpx(base_url + PATH, concurrency, measure))
        elif contender == "raw-aiohttp":
            tally = asyncio.run(raw_aiohttp(base_url + PATH, concurrency, measure))
        elif contender in ("sdk-httpx", "sdk-aiohttp"):
            backend = contender.removeprefix("sdk-")
            tally = asyncio.run(sdk(base_url, concurrency, backend, measure))
        else:
            raise SystemExit(f"unknown contender {contender!r}")
    return {
        **spec,
        "ok": tally.ok,
        "failed": tally.failed,
        "retries": tally.retries,
        "errors": tally.errors[:ERRORS_KEPT],
        "rss_mib": peak_rss_mib(),
        **timing,
    }


# -- orchestration ----------------------------------------------------------------------


def _stop(process: subprocess.Popen[Any], *, grace: float) -> None:
    """Stop a process of ours: its stdin closed first, then SIGTERM, then SIGKILL."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    for signum in (None, signal.SIGTERM, signal.SIGKILL):
        if signum is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        break
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def loopback_server(latency: float, processes: int = 1) -> Iterator[str]:
    """Run ``_server.py`` in ``processes`` processes on one free port; yield its base URL.

    The servers run in a session of their own (Ctrl-C in the terminal reaches only this
    process, which stops them), and stop by themselves should this process die: they
    serve until their stdin closes.
    """
    command = [sys.executable, str(HERE / "_server.py"), "--latency", str(latency)]
    if processes > 1:
        command.append("--reuse-port")
    started: list[subprocess.Popen[str]] = []
    try:
        port = 0
        for _ in range(processes):
            server = subprocess.Popen(
                [*command, "--port", str(port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            started.append(server)
            assert server.stdout is not None
            line = server.stdout.readline()
            if not line.strip().isdigit():
                raise RuntimeError(f"the loopback server did not start (said {line!r})")
            port = int(line)
        yield f"http://127.0.0.1:{port}"
    finally:
        for server in started:
            _stop(server, grace=5.0)


def run_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one measurement in a fresh process and return its result."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--_worker", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches us; we stop the worker
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    lines = stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(
            f"{spec['contender']} (C={spec['concurrency']}) exited with "
            f"{process.returncode}:\n{stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    if result["failed"]:
        print(
            f"  !! {spec['contender']} C={spec['concurrency']}: {result['failed']} of "
            f"{result['n'] + spec.get('warm_up', 0)} closes failed; first failures:",
            file=sys.stderr,
        )
        for error in result["errors"]:
            print(f"     {error}", file=sys.stderr)
    return result


@dataclass
class Summary:
    """One contender at one concurrency, over the rounds."""

    rates: list[float]
    cpu_ms: list[float]
    rss_mib: list[float]
    failed: int
    retries: int

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def rss(self) -> float:
        return max(self.rss_mib)


def benchmark(
    base_url: str,
    *,
    levels: list[int],
    contenders: list[str],
    n: int,
    rounds: int,
    warm_up: int,
    timeout: float,
) -> dict[int, dict[str, Summary]]:
    """Every contender at every level, ``rounds`` times, interleaved in rotating order."""
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {
        (level, name): [] for level in levels for name in contenders
    }
    for round_index in range(rounds):
        for level_index, level in enumerate(levels):
            shift = (round_index + level_index) % len(contenders)
            for name in contenders[shift:] + contenders[:shift]:
                spec = {
                    "contender": name,
                    "base_url": base_url,
                    "n": n,
                    "concurrency": level,
                    "warm_up": warm_up,
                }
                result = run_worker(spec, timeout)
                runs[level, name].append(result)
                print(
                    f"  round {round_index + 1}/{rounds}  C={level:<4} {name:<12}"
                    f" {n / result['wall']:8,.0f} closes/s"
                    f" {result['cpu'] / n * 1000:7.3f} ms CPU/close"
                    f" {result['rss_mib']:6.1f} MiB  {result['wall']:6.1f} s"
                    + (f"  {result['failed']} FAILED" if result["failed"] else ""),
                    file=sys.stderr,
                )
    return {
        level: {
            name: Summary(
                rates=[n / r["wall"] for r in runs[level, name]],
                cpu_ms=[r["cpu"] / n * 1000 for r in runs[level, name]],
                rss_mib=[r["rss_mib"] for r in runs[level, name]],
                failed=sum(r["failed"] for r in runs[level, name]),
                retries=sum(r["retries"] for r in runs[level, name]),
            )
            for name in contenders
        }
        for level in levels
    }


@dataclass
class MemoryRun:
    items: int
    rss_mib: float
    rate: float
    cpu_ms: float
    failed: int


def memory(
    base_url: str, sizes: list[int], concurrency: int, backend: str, timeout: float
) -> list[MemoryRun]:
    runs = []
    for size in sizes:
        spec = {
            "contender": "memory",
            "base_url": base_url,
            "n": size,
            "concurrency": concurrency,
            "backend": backend,
        }
        result = run_worker(spec, timeout)
        run = MemoryRun(
            items=size,
            rss_mib=result["rss_mib"],
            rate=size / result["wall"],
            cpu_ms=result["cpu"] / size * 1000,
            failed=result["failed"],
        )
        runs.append(run)
        print(
            f"  memory {size:>9,} items: {run.rss_mib:6.1f} MiB peak RSS,"
            f" {run.rate:7,.0f} closes/s, {result['wall']:6.1f} s"
            + (f"  {run.failed} FAILED" if run.failed else ""),
            file=sys.stderr,
        )
    return runs


# -- reporting --------------------------------------------------------------------------


def bound(level: int, latency: float) -> float:
    """Closes per second at most: C requests in flight, each taking the latency."""
    return level / latency if latency > 0 else math.inf


def results_table(results: dict[int, dict[str, Summary]], rounds: int) -> list[str]:
    lines = [
        "| C | contender | closes/s | min - max over rounds | CPU ms/close | peak RSS MiB"
        " | failed |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for level, by_name in results.items():
        for name, row in by_name.items():
            spread = (
                f"{min(row.rates):,.0f} - {max(row.rates):,.0f}" if rounds > 1 else "(one round)"
            )
            failed = f"**{row.failed} ⚠**" if row.failed else "0"
            lines.append(
                f"| {level} | {LABELS[name]} | {row.rate:,.0f} | {spread} | {row.cpu:.3f} |"
                f" {row.rss:.1f} | {failed} |"
            )
    return lines


def ratio(results: dict[str, Summary], a: str, b: str, what: str) -> float | None:
    if a not in results or b not in results:
        return None
    if what == "rate":
        return results[a].rate / results[b].rate
    return results[a].cpu / results[b].cpu


def ratios_table(results: dict[int, dict[str, Summary]], latency: float) -> list[str]:
    def show(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}x"

    lines = [
        "| C | latency bound closes/s | raw aiohttp % of bound | SDK(httpx) / raw httpx"
        " closes/s | SDK(httpx) / raw httpx CPU/close | SDK(aiohttp) / raw aiohttp closes/s"
        " | SDK(aiohttp) / raw aiohttp CPU/close |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for level, by_name in results.items():
        limit = bound(level, latency)
        reach = (
            f"{by_name['raw-aiohttp'].rate / limit:.0%}"
            if "raw-aiohttp" in by_name and math.isfinite(limit)
            else "n/a"
        )
        lines.append(
            f"| {level} | {limit:,.0f} | {reach}"
            f" | {show(ratio(by_name, 'sdk-httpx', 'raw-httpx', 'rate'))}"
            f" | {show(ratio(by_name, 'sdk-httpx', 'raw-httpx', 'cpu'))}"
            f" | {show(ratio(by_name, 'sdk-aiohttp', 'raw-aiohttp', 'rate'))}"
            f" | {show(ratio(by_name, 'sdk-aiohttp', 'raw-aiohttp', 'cpu'))} |"
        )
    return lines


@dataclass
class Target:
    name: str
    value: float | None
    goal: float
    at_most: bool = False
    percent: bool = False
    invalid: bool = False  # a contender it compares had failures

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        if self.invalid:
            return "INVALID (failed closes)"
        ok = self.value <= self.goal if self.at_most else self.value >= self.goal
        return "PASS" if ok else "FAIL"

    def row(self) -> str:
        def show(value: float) -> str:
            return f"{value:.0%}" if self.percent else f"{value:.2f}x"

        measured = "n/a" if self.value is None else show(self.value)
        goal = ("<= " if self.at_most else ">= ") + show(self.goal)
        return f"| {self.name} | {measured} | {goal} | {self.verdict} |"


def targets(
    results: dict[int, dict[str, Summary]], latency: float, memory_runs: list[MemoryRun]
) -> list[Target]:
    def pair(level: int, a: str, b: str, what: str) -> tuple[float | None, bool]:
        by_name = results.get(level, {})
        invalid = any(by_name[name].failed for name in (a, b) if name in by_name)
        return ratio(by_name, a, b, what), invalid

    found: list[Target] = []
    for level, a, b, what, goal, at_most in PAIR_TARGETS:
        if level in results:
            value, invalid = pair(level, a, b, what)
            measured = "closes/s" if what == "rate" else "CPU per close"
            name = f"{LABELS[a]} / {LABELS[b]} {measured}, C={level}"
            found.append(Target(name, value, goal, at_most=at_most, invalid=invalid))
    if latency > 0:
        for level, by_name in results.items():
            if "raw-aiohttp" in by_name:
                found.append(
                    Target(
                        f"harness: raw aiohttp / latency bound, C={level}",
                        by_name["raw-aiohttp"].rate / bound(level, latency),
                        0.6,
                        percent=True,
                        invalid=bool(by_name["raw-aiohttp"].failed),
                    )
                )
    if len(memory_runs) >= 2:
        first, last = memory_runs[0], memory_runs[-1]
        found.append(
            Target(
                f"memory: peak RSS at {last.items:,} / at {first.items:,} items",
                last.rss_mib / first.rss_mib,
                1.10,
                at_most=True,
                invalid=any(run.failed for run in memory_runs),
            )
        )
    return found


def memory_table(runs: list[MemoryRun]) -> list[str]:
    lines = [
        "| items (lazy generator) | peak RSS MiB | closes/s | CPU ms/close | failed |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run.items:,} | {run.rss_mib:.1f} | {run.rate:,.0f} | {run.cpu_ms:.3f} |"
            f" {run.failed} |"
        )
    return lines


def draw_chart(
    path: Path,
    results: dict[int, dict[str, Summary]],
    levels: list[int],
    title: str,
    latency: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    names = [name for name in CONTENDERS if name in results[levels[0]]]
    for name in names:
        rates = [results[level][name].rate for level in levels]
        axes.plot(levels, rates, marker="o", label=LABELS[name])
    if latency > 0:
        axes.plot(
            levels,
            [bound(level, latency) for level in levels],
            linestyle=":",
            color="grey",
            label="latency bound (C / latency)",
        )
    axes.set_xlabel("concurrency C (requests in flight)")
    axes.set_ylabel("closes per second")
    axes.set_xticks(levels)
    axes.set_ylim(bottom=0)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def versions() -> str:
    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "absent"

    packages = ("opay-async", "httpx", "httpcore", "aiohttp", "httpx-aiohttp")
    return " · ".join(f"{package} {version(package)}" for package in packages)


def levels_of(text: str) -> list[int]:
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"need concurrency levels >= 1, got {text!r}")
    return levels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="closes per timed run (2000)")
    parser.add_argument(
        "--concurrency", type=levels_of, default=[100, 10], help="levels for the tables (100,10)"
    )
    parser.add_argument("--latency", type=float, default=0.05, help="server latency, s (0.05)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--warm-up", type=int, default=200, help="untimed closes first (200)")
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated subset of {','.join(CONTENDERS)}",
    )
    parser.add_argument(
        "--server-processes", type=int, default=1, help="server processes (SO_REUSEPORT; 1)"
    )
    parser.add_argument("--memory", action="store_true", help="only the memory run")
    parser.add_argument("--skip-memory", action="store_true", help="no memory run")
    parser.add_argument(
        "--memory-sizes", type=levels_of, default=None, help="inputs for the memory run"
    )
    parser.add_argument("--memory-latency", type=float, default=0.001, help="s (0.001)")
    parser.add_argument("--memory-concurrency", type=int, default=100)
    parser.add_argument("--memory-backend", choices=("httpx", "aiohttp"), default="httpx")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument("--chart", type=Path, help="also draw closes/s against concurrency")
    parser.add_argument(
        "--chart-concurrency", type=levels_of, default=[10, 25, 50, 100], help="(10,25,50,100)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: N=300, one round")
    parser.add_argument("--timeout", type=float, default=900.0, help="per worker process, s")
    parser.add_argument("--_worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.rounds, args.warm_up = 300, 1, 100
        args.memory_sizes = args.memory_sizes or [2_000, 10_000]
    args.memory_sizes = args.memory_sizes or [10_000, 100_000]
    contenders = [name.strip() for name in args.contenders.split(",") if name.strip()]
    unknown = set(contenders) - set(CONTENDERS)
    if unknown or not contenders:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {CONTENDERS}")
    args.contenders = contenders
    if args.memory and args.skip_memory:
        parser.error("--memory and --skip-memory exclude each other")
    return args


def report(args: argparse.Namespace) -> tuple[str, bool]:
    """Run everything asked for; return the report and whether every close succeeded."""
    started = time.perf_counter()
    command = shlex.join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    lines = [
        "```text",
        f"$ {command}",
        f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · Python"
        f" {platform.python_version()} · {platform.system()} {platform.machine()}"
        f" · {os.cpu_count()} CPUs",
        versions(),
        "```",
        "",
    ]
    results: dict[int, dict[str, Summary]] = {}
    memory_runs: list[MemoryRun] = []
    if not args.memory:
        levels = list(
            dict.fromkeys(args.concurrency + (args.chart_concurrency if args.chart else []))
        )
        print(
            f"benchmark: C={','.join(map(str, levels))}, N={args.n}, {args.rounds} round(s),"
            f" latency {args.latency * 1000:g} ms",
            file=sys.stderr,
        )
        with loopback_server(args.latency, args.server_processes) as base_url:
            results = benchmark(
                base_url,
                levels=levels,
                contenders=args.contenders,
                n=args.n,
                rounds=args.rounds,
                warm_up=args.warm_up,
                timeout=args.timeout,
            )
        table_results = {level: results[level] for level in args.concurrency}
        lines += [
            f"### Bulk close: N={args.n:,} closes per run (after {args.warm_up} warm-up),"
            f" server latency {args.latency * 1000:g} ms, median of {args.rounds} interleaved"
            " round(s)",
            "",
            *results_table(table_results, args.rounds),
            "",
            *ratios_table(table_results, args.latency),
            "",
        ]
        if args.chart:
            title = (
                f"Bulk close, N={args.n:,} per run, server latency {args.latency * 1000:g} ms,"
                f" median of {args.rounds} round(s), {os.cpu_count()} CPUs"
            )
            draw_chart(args.chart, results, args.chart_concurrency, title, args.latency)
            print(f"chart written to {args.chart}", file=sys.stderr)
            extra = [level for level in args.chart_concurrency if level not in args.concurrency]
            if extra:
                lines += [
                    "Chart levels not in the table above:",
                    "",
                    *results_table({level: results[level] for level in extra}, args.rounds),
                    "",
                ]
    if args.memory or not args.skip_memory:
        print(
            f"memory: iter_close_many over {', '.join(f'{s:,}' for s in args.memory_sizes)}"
            f" lazily generated references, C={args.memory_concurrency}",
            file=sys.stderr,
        )
        with loopback_server(args.memory_latency, args.server_processes) as base_url:
            memory_runs = memory(
                base_url,
                args.memory_sizes,
                args.memory_concurrency,
                args.memory_backend,
                args.timeout,
            )
        lines += [
            f"### Memory: `iter_close_many` over a generator, C={args.memory_concurrency},"
            f" backend {args.memory_backend}, server latency {args.memory_latency * 1000:g} ms,"
            " outcomes not kept",
            "",
            *memory_table(memory_runs),
            "",
        ]
    found = targets(
        {k: results[k] for k in results if k in args.concurrency}, args.latency, memory_runs
    )
    if found:
        lines += [
            "### Targets",
            "",
            "| target | measured | goal | verdict |",
            "| --- | ---: | ---: | --- |",
            *(target.row() for target in found),
            "",
        ]
    all_ok = not any(
        s.failed for by_name in results.values() for s in by_name.values()
    ) and not any(run.failed for run in memory_runs)
    retries = sum(s.retries for by_name in results.values() for s in by_name.values())
    if not all_ok:
        lines.append("**Some closes failed (⚠ above): those measurements are not valid.**")
    if retries:
        lines.append(f"(The SDK retried {retries} attempts in all.)")
    lines.append(f"Whole run: {time.perf_counter() - started:.0f} s.")
    return "\n".join(lines) + "\n", all_ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._worker:
        print(json.dumps(worker(json.loads(args._worker))))
        return 0
    try:
        text, all_ok = report(args)
    except KeyboardInterrupt:
        print("\ninterrupted: servers and workers stopped", file=sys.stderr)
        return 130
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
        print(f"report written to {args.markdown}", file=sys.stderr)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
