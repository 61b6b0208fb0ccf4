"""The report: markdown tables of the results, the ratios, the targets, and the chart.

Everything here works on the runner's summaries (``_runner.Summary``, ``MemoryRun``) and
prints nothing: ``bulk_close.py`` puts the pieces together.
"""

from __future__ import annotations

import importlib.metadata
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from _contenders import base_name, label, revision
from _runner import MemoryRun, Summary

Results = dict[int, dict[str, Summary]]
#: A comparison of two run keys: (C, a, b, "rate" or "cpu", goal, whether goal is a maximum).
PairTarget = tuple[int, str, str, str, float, bool]

#: The targets comparing the SDK with raw aiohttp, within one run (more for ``--baseline``).
PAIR_TARGETS: Final[tuple[PairTarget, ...]] = (
    (100, "sdk-httpx2", "raw-aiohttp", "rate", 0.9, False),
    (100, "sdk-httpx2", "raw-aiohttp", "cpu", 2.5, True),
    (100, "sdk-aiohttp", "raw-aiohttp", "cpu", 2.0, True),
    (400, "sdk-httpx2", "raw-aiohttp", "rate", 0.3, False),
    (400, "sdk-aiohttp", "raw-aiohttp", "rate", 0.6, False),
)
#: What every contender is measured against in the results table.
REFERENCE: Final = "raw-aiohttp"
#: The pairs of the ratios table besides the reference (more are added for ``--baseline``):
#: the SDK's own pool against httpx2's stock pool, and the SDK against its raw library.
COMPARISONS: Final = (
    ("sdk-httpx2", "sdk-httpx2-stock"),
    ("sdk-httpx2", "raw-httpx2"),
    ("raw-httpx2", "raw-httpx"),
)
#: The harness check (raw aiohttp reaches 60% of the latency bound) holds up to this C:
#: beyond it, a wave of C answers costs raw aiohttp's own CPU C times over.
HARNESS_MAX_LEVEL: Final = 100
BASELINE_NOTE: Final = (
    "The vs-baseline targets compare the two trees within one interleaved run. Run-to-run"
    " noise is a few percent on a quiet machine and much more on a busy one (see the range"
    " over rounds): a FAIL whose range spans 1.00x may be noise, so rerun with more"
    " `--rounds` before calling it a regression, or a win."
)


def baseline_targets(short: str) -> list[PairTarget]:
    """This tree's SDK against the baseline's: CPU per close at C=100 must not grow."""
    return [(100, key, f"{key}@{short}", "cpu", 1.0, True) for key in ("sdk-httpx2", "sdk-aiohttp")]


def bound(level: int, latency: float) -> float:
    """Closes per second at most: C requests in flight, each taking the latency."""
    return level / latency if latency > 0 else math.inf


def results_table(results: Results, rounds: int) -> list[str]:
    """One row per contender and level: closes/s (median, range), CPU, against raw aiohttp."""
    lines = [
        "| C | contender | closes/s | min - max over rounds | CPU ms/close"
        " | closes/s vs raw aiohttp | CPU vs raw aiohttp | peak RSS MiB | failed |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for level, by_key in results.items():
        for key, row in by_key.items():
            spread = (
                f"{min(row.rates):,.0f} - {max(row.rates):,.0f}" if rounds > 1 else "(one round)"
            )
            failed = f"**{row.failed} ⚠**" if row.failed else "0"
            rate, cpu = ratio(by_key, key, REFERENCE, "rate"), ratio(by_key, key, REFERENCE, "cpu")
            lines.append(
                f"| {level} | {label(key)} | {row.rate:,.0f} | {spread} | {row.cpu:.3f} |"
                f" {_times(rate)} | {_times(cpu)} | {row.rss:.1f} | {failed} |"
            )
    return lines


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def ratio(by_key: dict[str, Summary], a: str, b: str, what: str) -> float | None:
    """Median ``a`` over median ``b``: closes/s (``rate``) or CPU per close (``cpu``)."""
    if a not in by_key or b not in by_key:
        return None
    if what == "rate":
        return by_key[a].rate / by_key[b].rate
    return by_key[a].cpu / by_key[b].cpu


def round_ratios(by_key: dict[str, Summary], a: str, b: str, what: str) -> list[float]:
    """``a`` over ``b`` in each round (runs of one round ran next to each other)."""
    if a not in by_key or b not in by_key:
        return []
    if what == "rate":
        pairs = zip(by_key[a].rates, by_key[b].rates, strict=True)
    else:
        pairs = zip(by_key[a].cpu_ms, by_key[b].cpu_ms, strict=True)
    return [x / y for x, y in pairs]


def ratios_table(results: Results, latency: float, comparisons: list[tuple[str, str]]) -> list[str]:
    """The pairs' ratios at each level, and raw aiohttp against the latency bound."""

    lines = [
        "| C | comparison | closes/s | CPU per close |",
        "| ---: | --- | ---: | ---: |",
    ]
    for level, by_key in results.items():
        limit = bound(level, latency)
        if REFERENCE in by_key and math.isfinite(limit):
            lines.append(
                f"| {level} | raw aiohttp / latency bound ({limit:,.0f} closes/s)"
                f" | {by_key['raw-aiohttp'].rate / limit:.0%} | |"
            )
        for a, b in comparisons:
            if a in by_key and b in by_key:
                rate, cpu = ratio(by_key, a, b, "rate"), ratio(by_key, a, b, "cpu")
                lines.append(
                    f"| {level} | {label(a)} / {label(b)} | {_times(rate)} | {_times(cpu)} |"
                )
    return lines


@dataclass
class Target:
    """One goal and what the run measured for it."""

    name: str
    value: float | None
    goal: float
    at_most: bool = False
    percent: bool = False
    invalid: bool = False  # a contender it compares had failures
    skipped: str = ""  # why it could not be measured (a library not installed)
    spread: tuple[float, float] | None = None  # the lowest and highest per-round value

    @property
    def verdict(self) -> str:
        """PASS, FAIL, INVALID, skipped or not measured."""
        if self.skipped:
            return f"skipped ({self.skipped})"
        if self.value is None:
            return "not measured"
        if self.invalid:
            return "INVALID (failed closes)"
        ok = self.value <= self.goal if self.at_most else self.value >= self.goal
        return "PASS" if ok else "FAIL"

    def row(self) -> str:
        """The target as a row of the targets table."""

        def show(value: float, digits: int = 3) -> str:
            return f"{value:.{digits - 2}%}" if self.percent else f"{value:.{digits}f}x"

        measured = "n/a" if self.value is None else show(self.value)
        spread = "" if self.spread is None else f"{show(self.spread[0])} - {show(self.spread[1])}"
        goal = ("<= " if self.at_most else ">= ") + show(self.goal, 2)
        return f"| {self.name} | {measured} | {spread} | {goal} | {self.verdict} |"


TARGETS_HEAD: Final = [
    "| target | measured | range over rounds | goal | verdict |",
    "| --- | ---: | ---: | ---: | --- |",
]


def targets(
    levels: list[int],
    results: Results,
    latency: float,
    memory_runs: list[MemoryRun],
    pair_targets: list[PairTarget],
    skipped: dict[str, list[str]],
) -> list[Target]:
    """The targets at ``levels``; ``skipped`` maps contenders to their missing modules."""
    found: list[Target] = []
    for level, a, b, what, goal, at_most in pair_targets:
        if level not in levels:
            continue
        by_key = results.get(level, {})
        measured = "closes/s" if what == "rate" else "CPU per close"
        if base_name(b) == a:
            name = f"{label(a)} {measured} vs baseline @{revision(b)}, C={level}"
        else:
            name = f"{label(a)} / {label(b)} {measured}, C={level}"
        missing = sorted({m for key in (a, b) for m in skipped.get(base_name(key), [])})
        per_round = round_ratios(by_key, a, b, what)
        found.append(
            Target(
                name,
                ratio(by_key, a, b, what),
                goal,
                at_most=at_most,
                invalid=any(by_key[key].failed for key in (a, b) if key in by_key),
                skipped=f"{', '.join(missing)} not installed" if missing else "",
                spread=(min(per_round), max(per_round)) if len(per_round) > 1 else None,
            )
        )
    if latency > 0 and "raw-aiohttp" in skipped:
        why = f"{', '.join(skipped['raw-aiohttp'])} not installed"
        for level in (level for level in levels if level <= HARNESS_MAX_LEVEL):
            name = f"harness: raw aiohttp / latency bound, C={level}"
            found.append(Target(name, None, 0.6, percent=True, skipped=why))
    if latency > 0:
        for level, by_key in results.items():
            if "raw-aiohttp" in by_key and level <= HARNESS_MAX_LEVEL:
                row = by_key["raw-aiohttp"]
                limit = bound(level, latency)
                found.append(
                    Target(
                        f"harness: raw aiohttp / latency bound, C={level}",
                        row.rate / limit,
                        0.6,
                        percent=True,
                        invalid=bool(row.failed),
                        spread=(min(row.rates) / limit, max(row.rates) / limit)
                        if len(row.rates) > 1
                        else None,
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
    """One row per memory run: peak RSS, closes/s, CPU per close, failures."""
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


def draw_chart(path: Path, results: Results, levels: list[int], title: str, latency: float) -> None:
    """Closes/s against concurrency, one line per run key, to ``path`` (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")  # its stubs are partly untyped

    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    highest = max(results[level][key].rate for level in levels for key in results[level])
    for key in results[levels[0]]:
        rates = [results[level][key].rate for level in levels]
        axes.plot(levels, rates, marker="o", label=label(key))
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
    if max(levels) >= 8 * min(levels):  # spread the low levels out
        axes.set_xscale("log")
        axes.minorticks_off()
    axes.set_xticks(levels, [str(level) for level in levels])
    axes.set_ylim(0, highest * 1.15)  # the latency bound may leave the chart: it says C / latency
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def versions() -> str:
    """The versions of the libraries measured, as installed here."""

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "absent"

    packages = ("opay-async", "httpx2", "httpcore2", "aiohttp", "httpx", "httpcore")
    return " · ".join(f"{package} {version(package)}" for package in packages)


def installed() -> list[str]:
    """Every distribution installed in this interpreter, as ``pip list`` shows them."""
    found: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            found.setdefault(name, distribution.version)
    width = max(map(len, found), default=0)
    return [f"{name:<{width}} {found[name]}" for name in sorted(found, key=str.lower)]
