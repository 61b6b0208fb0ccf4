"""Performance figures are measured and quoted in one place: docs/performance.md.

The bulk benchmark's table there is the source. The README (which GitHub and PyPI show
as it is, without includes) quotes its rows for concurrency 100 exactly; the sizing
paragraph rounds the same rows; every other page includes that paragraph
(``--8<-- "docs/performance.md:sizing"``) instead of retyping a figure. A page that
quoted another number for the same measurement (1,470 closes/s at 0.66 ms, from a run
against a 1 ms server, beside the table's 1,396 at 0.631) fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PERFORMANCE = ROOT / "docs" / "performance.md"
README = ROOT / "README.md"
#: The README's names for the contenders of the bulk table.
README_NAMES = {
    "raw httpx (legacy, one pool)": "raw httpx (legacy)",
    "raw httpx2 (one pool)": "raw httpx2",
    "raw aiohttp": "raw aiohttp",
    "opay-async, httpx2 backend (default)": "SDK (httpx2)",
    "opay-async, aiohttp backend": "SDK (aiohttp)",
}
#: How a page states a figure of the bulk benchmark in prose.
BENCH_FIGURE = re.compile(r"\d[\d,.]* (?:closes|payments) per second|\d+(?:\.\d+)? ms of CPU")
#: A number standing alone (not the 2 of httpx2), with its thousands commas, its decimals
#: and the x of a ratio: "1,396", "0.631", "0.73x".
NUMBER = re.compile(r"(?<![\w.,])\d+(?:,\d{3})*(?:\.\d+)?x?(?!\w|[.,]\d)")
SIZING = re.compile(r"<!-- --8<-- \[start:sizing\] -->\n(.*?)<!-- --8<-- \[end:sizing\] -->", re.S)


def table(text: str, header: str) -> list[list[str]]:
    """The cells of each row of the Markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def bulk_table() -> dict[tuple[str, str], tuple[str, str]]:
    """``(C, contender) -> (closes/s, CPU ms/close)`` of docs/performance.md's bulk table."""
    rows = table(PERFORMANCE.read_text(), "| C | contender | closes/s |")
    assert len(rows) == 18
    return {(row[0], row[1]): (row[2], row[4]) for row in rows}


def section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_readme_quotes_the_bulk_table_as_it_is() -> None:
    figures = bulk_table()
    rows = table(README.read_text(), "| concurrency 100 |")
    quoted = {README_NAMES[name]: (closes, cpu) for name, closes, cpu in rows}
    assert quoted == {name: figures["100", name] for name in README_NAMES.values()}


def test_every_figure_of_the_readmes_performance_section_is_on_the_performance_page() -> None:
    shown = set(NUMBER.findall(PERFORMANCE.read_text()))
    quoted = NUMBER.findall(section(README.read_text(), "## Performance"))
    assert len(quoted) > 15
    assert [figure for figure in quoted if figure not in shown] == []


def rounded(value: str, step: int) -> str:
    return f"{round(float(value.replace(',', '')) / step) * step:,}"


def test_the_sizing_paragraph_rounds_the_tables_figures() -> None:
    figures = bulk_table()
    [sizing] = SIZING.findall(PERFORMANCE.read_text())
    default_closes, default_cpu = figures["100", "SDK (httpx2)"]
    aiohttp_closes, aiohttp_cpu = figures["100", "SDK (aiohttp)"]
    assert NUMBER.findall(sizing) == [
        "100",  # C
        "50",  # ms of latency
        rounded(default_closes, 50),
        f"{float(default_cpu):.2f}",
        rounded(aiohttp_closes, 50),
        f"{float(aiohttp_cpu):.2f}",
        rounded(str(1000 / float(default_cpu)), 100),  # closes per second of CPU
        rounded(str(1000 / float(aiohttp_cpu)), 100),
    ]


def test_other_pages_include_the_figures_instead_of_retyping_them() -> None:
    pages = [
        README,
        ROOT / "benchmarks" / "README.md",
        *(page for page in sorted((ROOT / "docs").glob("*.md")) if page != PERFORMANCE),
    ]
    retyped = {page.name: BENCH_FIGURE.findall(page.read_text()) for page in pages}
    assert {name: found for name, found in retyped.items() if found} == {}
    assert BENCH_FIGURE.search(SIZING.findall(PERFORMANCE.read_text())[0])  # the pattern works
    assert '--8<-- "docs/performance.md:sizing"' in (ROOT / "docs" / "bulk.md").read_text()
