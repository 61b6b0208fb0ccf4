"""The producer: split references into chunks, fan them out to the workers, gather records.

From a CSV file (a ``reference`` column, optional ``order_no``/``orderNo`` and ``country``):

    python -m examples.celery_worker.producer stale.csv --country EG --output results.jsonl

From Python, any iterable (a query result streamed from a database, a generator):

    result = fan_out(stale_references(), country="EG", chunk_size=500)
    for record in gather(result, timeout=3600):
        mark_order(record)  # "ok" means closed; a paid one has ok False, order_status SUCCESS
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

# Celery ships no type hints (no py.typed): Any here, typed by the Protocols below.
import celery  # type: ignore[import-untyped]
import celery.exceptions  # type: ignore[import-untyped]
import celery.result  # type: ignore[import-untyped]

from opay_async import CloseRecord

from .app import Item, close_chunk_task

__all__ = ["DEFAULT_CHUNK_SIZE", "GROUP_SIZE", "chunked", "fan_out", "gather", "main", "read_rows"]

T = TypeVar("T")
#: References per task: a chunk takes a second or two at a few hundred closes per second,
#: so a lost worker costs little, and the broker carries 1/500th of the messages.
DEFAULT_CHUNK_SIZE: Final = 500
#: Chunk tasks sent per Celery group.
GROUP_SIZE: Final = 100
_COLUMNS: Final = {"reference", "order_no", "orderNo", "country"}
_celery: Any = celery  # the module, as Any (see above)


class ChunkResult(Protocol):
    """One chunk's result (a ``celery.result.AsyncResult``)."""

    def get(self, *, timeout: float, interval: float) -> list[CloseRecord]:
        """Wait for the chunk's records; raise the task's error if it failed."""
        ...

    def forget(self) -> None:
        """Remove the result from the result backend."""
        ...


class Run(Protocol):
    """The results of a run's chunks, in order (a ``celery.result.GroupResult``)."""

    @property
    def id(self) -> str:
        """The run's id."""
        ...

    @property
    def results(self) -> list[ChunkResult]:
        """One result per chunk, in the order the chunks were sent."""
        ...


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter), pulled lazily.

    Examples:
        >>> list(chunked("abcde", 2))
        [['a', 'b'], ['c', 'd'], ['e']]
    """
    if size < 1:
        raise ValueError(f"chunk size: must be at least 1, got {size}")
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a CSV file, with only the columns a close reads, empty cells left out.

    A row keeps ``reference``, ``order_no`` (or ``orderNo``) and ``country``; the SDK
    checks them (a row it cannot read becomes a failed record, it is never sent).
    """
    with path.open(newline="", encoding="utf-8-sig") as file:
        for row in csv.DictReader(file):
            yield {key: value.strip() for key, value in row.items() if key in _COLUMNS and value}


# --8<-- [start:fan_out]
def fan_out(
    items: Iterable[Item], *, country: str | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Run:
    """Send ``items`` to the workers as ``close_chunk`` tasks, chunk by chunk.

    Each task carries one chunk and the position of its first item, so every record's
    ``index`` is its item's position in ``items``. The chunks go out in Celery groups of
    ``GROUP_SIZE`` tasks as ``items`` is read: a group holds its chunks until it is sent,
    so one group of millions of references would hold them all.

    Returns:
        The result of every chunk, in order, as one ``GroupResult``.
    """
    tasks = (
        close_chunk_task.s(chunk, country, number * chunk_size)
        for number, chunk in enumerate(chunked(items, chunk_size))
    )
    results: list[ChunkResult] = []
    for batch in chunked(tasks, GROUP_SIZE):
        results.extend(_celery.group(batch).apply_async().results)
    run: Run = _celery.result.GroupResult(_celery.uuid(), results)
    return run


def gather(run: Run, *, timeout: float) -> Iterator[CloseRecord]:
    """The records of a ``fan_out`` run, chunk after chunk, as each chunk is done.

    Each chunk's result is removed from the result backend once read. A chunk whose
    task failed (the task itself, not a payment: that is a record) raises its error.

    Raises:
        TimeoutError: The run took more than ``timeout`` seconds in all.
    """
    deadline = time.monotonic() + timeout
    for chunk in run.results:
        left = max(deadline - time.monotonic(), 0.001)
        try:
            records: list[CloseRecord] = chunk.get(timeout=left, interval=0.05)
        except _celery.exceptions.TimeoutError:
            raise TimeoutError(f"the chunks were not all done in {timeout:g} s") from None
        chunk.forget()
        yield from records


# --8<-- [end:fan_out]


def main(argv: Sequence[str] | None = None) -> int:
    """Close the payments of a CSV file on the workers; 0 when all are closed, else 1."""
    parser = argparse.ArgumentParser(prog="python -m examples.celery_worker.producer")
    parser.add_argument("file", type=Path, help="CSV with a reference column")
    parser.add_argument("--country", help="the country of rows that name none")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds in all")
    parser.add_argument("--output", type=Path, help="write the records there, as JSON lines")
    args = parser.parse_args(argv)
    counts = {True: 0, False: 0}
    run = fan_out(read_rows(args.file), country=args.country, chunk_size=args.chunk_size)
    with args.output.open("w", encoding="utf-8") if args.output else nullcontext() as output:
        for record in gather(run, timeout=args.timeout):
            counts[record["ok"]] += 1
            if output is not None:
                output.write(json.dumps(record) + "\n")
    print(f"{counts[True]} closed, {counts[False]} not closed", file=sys.stderr)
    return 0 if counts[False] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
