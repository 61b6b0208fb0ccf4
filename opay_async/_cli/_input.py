"""Reading the input file of ``close-many``: CSV with a header, or one reference a line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

__all__ = ["HEADER_NAMES", "count_rows", "read_rows"]

#: Column names that mark a CSV header (compared case-insensitively).
HEADER_NAMES = frozenset({"reference", "orderno", "order_no", "country"})


def _is_header(line: str) -> bool:
    cells = next(csv.reader([line]), None) or []
    return any(cell.strip().lower() in HEADER_NAMES for cell in cells)


def _normalise(name: str) -> str:
    key = name.strip().lower()
    return {"orderno": "order_no"}.get(key, key)


def read_rows(stream: TextIO) -> Iterator[dict[str, str]]:
    r"""Yield one row mapping per input line, lazily.

    A first line naming ``reference``, ``orderNo`` (or ``order_no``) or ``country``
    makes the input a CSV file with that header; otherwise every non-blank line is a
    reference. Cells are stripped; blank lines are skipped.

    Example:
        >>> import io
        >>> list(read_rows(io.StringIO("reference,country\nA1,EG\n\nA2,\n")))
        [{'reference': 'A1', 'country': 'EG'}, {'reference': 'A2', 'country': ''}]
        >>> list(read_rows(io.StringIO("A1\nA2\n")))
        [{'reference': 'A1'}, {'reference': 'A2'}]
    """
    first = stream.readline()
    while first and not first.strip():
        first = stream.readline()
    if not first:
        return
    if _is_header(first):
        header = [_normalise(name) for name in next(csv.reader([first]))]
        for cells in csv.reader(stream):
            if not any(cell.strip() for cell in cells):
                continue
            yield {
                name: (cells[i].strip() if i < len(cells) else "")
                for i, name in enumerate(header)
                if name
            }
        return
    for line in _chain(first, stream):
        value = line.strip()
        if value:
            yield {"reference": value}


def _chain(first: str, stream: TextIO) -> Iterator[str]:
    yield first
    yield from stream


def count_rows(path: str) -> int | None:
    """Rows in the file at ``path`` (for the progress bar); ``None`` for standard input."""
    if path == "-":
        return None
    with open(path, encoding="utf-8-sig", newline="") as stream:
        return sum(1 for _ in read_rows(stream))
