r"""Bulk close benchmark: opay-async against raw httpx2, raw httpx and raw aiohttp.

    python benchmarks/bulk_close.py                  # tables at C=10, 100, 400; memory run
    python benchmarks/bulk_close.py --quick          # a smoke run (N=300, one round)
    python benchmarks/bulk_close.py --baseline HEAD~3 --skip-memory   # before / after
    python benchmarks/bulk_close.py --markdown docs/_bench.md \
        --chart docs/closes_per_second.png --chart-concurrency 10,25,50,100,200,400

A loopback HTTP/1.1 keep-alive server (processes of its own, see ``_server.py``) answers
every close after ``--latency`` seconds. Six contenders each close N payments at
concurrency C: raw legacy httpx, raw httpx2 and raw aiohttp (a semaphore and
``asyncio.gather``, the request signed by hand), and ``OPayClient.close_many`` on each
backend and on httpx2's stock pool (``_contenders.py``). Every run is a fresh process,
so its CPU time and peak RSS are its own and no run warms another; each does a short
warm-up before the timed part (``_worker.py``). Runs are interleaved, in an order that
rotates, for ``--rounds`` rounds (``_runner.py``); the tables show the median closes/s
and CPU per close, each also as a ratio to raw aiohttp's in the same run, and the
highest peak RSS (``_report.py``). ``--baseline REV`` also runs the SDK contenders from
another revision of this repository, in the same rounds. The memory run streams
``iter_close_many`` over a lazily generated input of each ``--memory-sizes`` length:
peak RSS must not grow with the input.

The SDK measured is this checkout's code as installed (``nox -s bench`` installs it as a
wheel, with only its declared dependencies, the way users get it); the run stops if the
installed ``opay_async`` is other code. Contenders whose libraries are not installed are
skipped, with the command that installs them. Absolute numbers depend on the machine:
compare within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shlex
import signal
import sys
import time
from pathlib import Path

from _contenders import (
    AIOHTTP_INSTALL,
    CONTENDERS,
    SHARDS,
    available,
    contender,
    label,
    missing_modules,
)
from _profile import profile_runs
from _report import (
    BASELINE_NOTE,
    COMPARISONS,
    PAIR_TARGETS,
    TARGETS_HEAD,
    PairTarget,
    Results,
    baseline_targets,
    draw_chart,
    installed,
    memory_table,
    ratios_table,
    results_table,
    targets,
    versions,
)
from _runner import (
    MemoryRun,
    baseline_tree,
    benchmark,
    loopback_server,
    memory,
    tree_for,
)

CHART_INSTALL = "python -m pip install 'matplotlib>=3.8'"


def levels_of(text: str) -> list[int]:
    """Parse a comma-separated list of concurrency levels (or sizes), each >= 1."""
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"need concurrency levels >= 1, got {text!r}")
    return levels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``--quick`` filled in)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, help="closes per timed run (2000; --quick: 300)")
    parser.add_argument(
        "--concurrency",
        type=levels_of,
        default=[100, 10, 400],
        help="levels for the tables; the targets are at 100 and 400 (100,10,400)",
    )
    parser.add_argument("--latency", type=float, default=0.05, help="server latency, s (0.05)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (3; --quick: 1)")
    parser.add_argument("--warm-up", type=int, help="untimed closes first (200; --quick: 100)")
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated subset of {','.join(CONTENDERS)}; also sdk-shards-S",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run the SDK contenders from this git revision (a temporary worktree)",
    )
    parser.add_argument(
        "--server-processes",
        type=int,
        default=1,
        help="server processes (SO_REUSEPORT; 1)",
    )
    parser.add_argument("--memory", action="store_true", help="only the memory run")
    parser.add_argument("--skip-memory", action="store_true", help="no memory run")
    parser.add_argument(
        "--memory-sizes", type=levels_of, default=None, help="inputs for the memory run"
    )
    parser.add_argument("--memory-latency", type=float, default=0.001, help="s (0.001)")
    parser.add_argument("--memory-concurrency", type=int, default=100)
    parser.add_argument("--memory-backend", choices=("httpx2", "aiohttp"), default="httpx2")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also run each contender once under cProfile (first level); stats to DIR",
    )
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument("--chart", type=Path, help="also draw closes/s against concurrency")
    parser.add_argument(
        "--chart-concurrency",
        type=levels_of,
        default=[10, 25, 50, 100, 200, 400],
        help="(10,25,50,100,200,400)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: N=300, one round (options given win)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="per worker process, s")
    args = parser.parse_args(argv)
    quick = args.quick
    args.n = args.n or (300 if quick else 2000)
    args.rounds = args.rounds or (1 if quick else 3)
    args.warm_up = args.warm_up if args.warm_up is not None else (100 if quick else 200)
    args.memory_sizes = args.memory_sizes or ([2_000, 10_000] if quick else [10_000, 100_000])
    contenders = [name.strip() for name in args.contenders.split(",") if name.strip()]
    unknown = {name for name in contenders if name not in CONTENDERS and not SHARDS.fullmatch(name)}
    if unknown or not contenders:
        parser.error(
            f"unknown contenders {sorted(unknown)}; choose from {', '.join(CONTENDERS)},"
            " or sdk-shards-S (the SDK on ShardedTransport(shard_size=S))"
        )
    args.contenders = list(dict.fromkeys(contenders))
    if args.memory and args.skip_memory:
        parser.error("--memory and --skip-memory exclude each other")
    return args


def skip_notes(skipped: dict[str, list[str]]) -> list[str]:
    """One line per install command: the contenders it would bring back."""
    by_command: dict[str, list[str]] = {}
    for name in skipped:
        by_command.setdefault(contender(name).install, []).append(name)
    notes: list[str] = []
    for command, names in by_command.items():
        modules = sorted({module for name in names for module in skipped[name]})
        notes.append(
            f"skipped {', '.join(label(name) for name in names)}: {', '.join(modules)} not"
            f" installed (install with: {command}, or run: nox -s bench)"
        )
    return notes


def throughput(
    args: argparse.Namespace, ready: list[str], pair_targets: list[PairTarget]
) -> tuple[list[str], Results]:
    """The throughput runs: the report's lines and the results at the table levels.

    With ``--baseline``, the baseline's targets are added to ``pair_targets``.
    """
    levels = list(dict.fromkeys(args.concurrency + (args.chart_concurrency if args.chart else [])))
    comparisons = list(COMPARISONS)
    profiles: list[str] = []
    with contextlib.ExitStack() as stack:
        keys, tree = list(ready), None
        if args.baseline:
            tree, short = stack.enter_context(baseline_tree(args.baseline))
            print(
                f"baseline: {args.baseline} = {short}, checked out in {tree}",
                file=sys.stderr,
            )
            keys += [f"{name}@{short}" for name in ready if contender(name).sdk]
            comparisons += [(key.partition("@")[0], key) for key in keys if "@" in key]
            pair_targets += baseline_targets(short)
        print(
            f"benchmark: C={','.join(map(str, levels))}, N={args.n}, {args.rounds} round(s),"
            f" latency {args.latency * 1000:g} ms, {', '.join(keys)}",
            file=sys.stderr,
        )
        server = stack.enter_context(loopback_server(args.latency, args.server_processes))
        results = benchmark(
            server,
            levels=levels,
            keys=keys,
            n=args.n,
            rounds=args.rounds,
            warm_up=args.warm_up,
            timeout=args.timeout,
            baseline=tree,
        )
        if args.profile:
            profiles = profile_runs(
                server,
                keys=keys,
                level=args.concurrency[0],
                n=args.n,
                warm_up=args.warm_up,
                timeout=args.timeout,
                directory=args.profile,
                trees={key: tree_for(key, tree) for key in keys},
            )
    table = {level: results[level] for level in args.concurrency}
    first = results[levels[0]]
    lines = [
        f"### Bulk close: N={args.n:,} closes per run (after {args.warm_up} warm-up),"
        f" server latency {args.latency * 1000:g} ms, median of {args.rounds} interleaved"
        " round(s)",
        "",
        *(
            f"- {label(key)}: HTTP libraries imported: {', '.join(s.http_modules) or 'none'}"
            + (f"; opay_async from `{s.imported}`" if s.imported else "")
            for key, s in first.items()
        ),
        "",
        *results_table(table, args.rounds),
        "",
        *ratios_table(table, args.latency, comparisons),
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
    return lines + profiles, table


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
        f"Installed in this venv (`{sys.prefix}`), what the runs import from:",
        "",
        "```text",
        *installed(),
        "```",
        "",
    ]
    ready, skipped = available(args.contenders)
    notes = skip_notes(skipped)
    if args.chart and missing_modules(("matplotlib",)):
        notes.append(f"no chart: matplotlib not installed (install with: {CHART_INSTALL})")
        args.chart = None
    run_memory = args.memory or not args.skip_memory
    memory_missing = missing_modules(contender("sdk-aiohttp").modules)
    if run_memory and args.memory_backend == "aiohttp" and memory_missing:
        notes.append(
            f"skipped the memory run (backend aiohttp): {', '.join(memory_missing)} not"
            f" installed (install with: {AIOHTTP_INSTALL}, or run: nox -s bench)"
        )
        run_memory = False
    for note in notes:
        print(note, file=sys.stderr)
    lines += [*(f"- {note}" for note in notes), *([""] if notes else [])]

    results: Results = {}
    pair_targets = list(PAIR_TARGETS)
    if not args.memory and ready:
        more, results = throughput(args, ready, pair_targets)
        lines += more
    memory_runs: list[MemoryRun] = []
    if run_memory:
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
    levels: list[int] = [] if args.memory else args.concurrency
    found = targets(levels, results, args.latency, memory_runs, pair_targets, skipped)
    if found:
        lines += [
            "### Targets",
            "",
            *TARGETS_HEAD,
            *(target.row() for target in found),
            "",
        ]
        if args.baseline and results:
            lines += [BASELINE_NOTE, ""]
    all_ok = not any(s.failed for by_key in results.values() for s in by_key.values()) and not any(
        run.failed for run in memory_runs
    )
    retries = sum(s.retries for by_key in results.values() for s in by_key.values())
    if not all_ok:
        lines.append("**Some closes failed (⚠ above): those measurements are not valid.**")
    if retries:
        lines.append(f"(The SDK retried {retries} attempts in all.)")
    lines.append(f"Whole run: {time.perf_counter() - started:.0f} s.")
    return "\n".join(lines) + "\n", all_ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a close failed, 2 on a setup error, 130 on Ctrl-C."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up as for Ctrl-C
    try:
        text, all_ok = report(args)
    except KeyboardInterrupt:
        print("\ninterrupted: servers, workers and worktrees stopped", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
        print(f"report written to {args.markdown}", file=sys.stderr)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
