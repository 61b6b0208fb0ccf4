"""CPU profiles (``--profile DIR``): where each contender spends its CPU, per close.

After the timed rounds, each run key runs once more, in a fresh worker as usual, with
cProfile on over the timed closes only (not the warm-up). cProfile times with the wall
clock (the process's CPU clock costs so much per call that it would swamp everything),
so the time spent waiting for the server in the selector's ``poll`` is left out of the
totals and the tables. The stats are saved as
``DIR/<key>-C<level>.pstats`` (open them with ``python -m pstats`` or snakeviz), and the
report lists each key's functions by own time, in µs per close. cProfile makes code with
many small Python calls look slower than it is (CPU per close roughly doubles under it):
compare the profiles with each other, and take the timings from the tables.
"""

from __future__ import annotations

import pstats
import re
import sys
from pathlib import Path
from typing import Any, Final

from _contenders import base_name, label
from _runner import run_worker

TOP: Final = 15
#: The selector's wait for the sockets: wall time, but not CPU.
_WAIT: Final = re.compile(r"^<method '(poll|select|control)' of '(select|selectors)\.")
_PREFIX: Final = re.compile(r"^.*?(site-packages|lib/python3\.\d+|benchmarks|opay_async)/")


def _where(file: str, line: int, function: str) -> str:
    """A short name for a profiled function: ``httpx/_models.py:284 __getitem__``."""
    match = _PREFIX.match(file)
    if match and match.group(1) in ("benchmarks", "opay_async"):
        file = match.group(1) + "/" + file[match.end() :]
    elif match:
        file = file[match.end() :]
    return f"{file}:{line} {function}" if line else function


def summary(key: str, path: Path, n: int, result: dict[str, Any], top: int = TOP) -> list[str]:
    """The markdown summary of one profile: totals, then the top functions by own time."""
    stats: Any = pstats.Stats(str(path))
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats
    waiting = sum(entry[2] for key, entry in entries.items() if _WAIT.search(key[2]))
    total: float = stats.total_tt - waiting
    calls = sum(entry[1] for entry in entries.values())
    lines = [
        f"#### {label(key)}: {total / n * 1e6:,.0f} µs CPU per close under cProfile,"
        f" {calls / n:,.0f} function calls per close, {waiting / n * 1e6:,.0f} µs waiting"
        f" in the selector left out (`{path}`)",
        "",
        "| function | calls/close | own µs/close | own % | with callees µs/close |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    working = [item for item in entries.items() if not _WAIT.search(item[0][2])]
    ranked = sorted(working, key=lambda item: -item[1][2])[:top]
    for (file, line, function), (_, ncalls, own, cumulative, _) in ranked:
        lines.append(
            f"| `{_where(file, line, function)}` | {ncalls / n:.2f} | {own / n * 1e6:.1f}"
            f" | {own / total:.1%} | {cumulative / n * 1e6:.1f} |"
        )
    if result["failed"]:
        lines.append(f"\n**{result['failed']} closes failed in this run.**")
    return [*lines, ""]


def profile_runs(
    base_url: str,
    *,
    keys: list[str],
    level: int,
    n: int,
    warm_up: int,
    timeout: float,
    directory: Path,
    trees: dict[str, Path | None],
) -> list[str]:
    """One profiled run per key at concurrency ``level``; the report's lines.

    ``trees`` maps each key to the tree whose ``opay_async`` its worker imports (None:
    this checkout's).
    """
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        f"### CPU profiles: one run per contender under cProfile, C={level}, N={n:,}"
        " (not counted in the tables above)",
        "",
    ]
    for key in keys:
        path = directory / f"{key}-C{level}.pstats"
        spec = {
            "contender": base_name(key),
            "base_url": base_url,
            "n": n,
            "concurrency": level,
            "warm_up": warm_up,
            "profile": str(path.resolve()),
        }
        result = run_worker(spec, timeout, trees[key])
        print(f"  profile C={level:<4} {key:<20} -> {path}", file=sys.stderr)
        lines += summary(key, path, n, result)
    return lines
