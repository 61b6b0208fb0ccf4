"""The producer: split references into chunks, send them to the workers, write their records.

From a CSV file (a ``reference`` column, optional ``order_no``/``orderNo`` and ``country``):

    python -m examples.celery_worker.producer stale.csv --country EG --output results.jsonl

From Python, any iterable (a query result streamed from a database, a generator):

    for records in close_in_chunks(stale_references(), country="EG", timeout=3600):
        for record in records:
            mark_order(record)  # "ok" means closed; a paid one has ok False, order_status SUCCESS

Every input item ends with exactly one record, its ``index`` the item's position in the
input. A chunk is delivered at least once (a chunk whose worker died is run again, and
closing twice is safe), but its records are read once: the producer takes each chunk's
result once, in the order chunks finish, and a chunk that failed as a task (not a
payment: that is a record) gives failed records for its items. The run never stops at a
failed chunk; its timeout stops it, and then the items of the chunks still out have no
record (``--resume`` sends those again).

A dead key stops the whole fleet: the chunk that meets the first fatal answer (02000,
02002, 02007, HTTP 401: ``OPayError.fatal``) stops sending and leaves a stop mark in the
result backend; every later chunk of the run reads it before sending anything and ends
at once, the producer stops publishing, and every item not sent gets a
``RunStoppedError`` record. ``--resume`` with the key fixed sends exactly the items not
sent and those the dead key refused. ``--keep-going`` sends everything regardless.

Exit codes of the command: 0 every payment closed; 1 the run completed and some payments
are not closed (their records say why); 2 a bad command line or results file; 3 the run
did not complete (its timeout ran out, or the broker stayed away): some references have
no record, run it again with ``--resume``; 4 the run stopped on a fatal failure (a dead
key): fix it, then run again with ``--resume``; 130 interrupted (Ctrl-C): the records
written are kept, run it again with ``--resume``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import logging
import sys
import time
import uuid
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from kombu.exceptions import OperationalError

from opay_async import CloseRecord

from .app import app, close_chunk_task, deliveries_key, records_id, stop_key, stored_stop
from .output import IndexSet, write_records, written_indexes
from .records import Item, StopMark, failed_records
from .tracing import traced_main

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_IN_FLIGHT",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_STOPPED",
    "RunIncomplete",
    "RunStopped",
    "chunked",
    "close_in_chunks",
    "main",
    "read_rows",
]

T = TypeVar("T")
#: References per task. A chunk's start and end each leave part of a process's requests in
#: flight idle for about one answer's time (the last requests finish alone, the next chunk
#: starts all at once): 12% of a chunk of 500 at 50 in flight and 50 ms, 3% of one of
#: 2,000 (measured). A lost worker costs a chunk's closes again, a few seconds at most.
DEFAULT_CHUNK_SIZE: Final = 2000
#: Chunks sent and not yet read, at most: the producer keeps their items (for the failed
#: records of a chunk whose task fails), so its memory is bounded by this, not the input.
DEFAULT_IN_FLIGHT: Final = 100
#: Chunks whose records are fetched from the result backend in one request, at most: a
#: producer back from an outage finds many chunks done, and holds a few at a time.
READ_BATCH: Final = 8
#: Seconds between two looks at the result backend for finished chunks.
POLL_INTERVAL: Final = 0.1
#: The command's exit code when the run did not complete.
EXIT_INCOMPLETE: Final = 3
#: The command's exit code when the run stopped on a fatal failure (``opay-async``'s too).
EXIT_STOPPED: Final = 4
#: The command's exit code after Ctrl-C (SIGINT), as a shell reports it.
EXIT_INTERRUPTED: Final = 130
_COLUMNS: Final = {"reference", "order_no", "orderNo", "country"}
logger = logging.getLogger(__name__)


class RunIncomplete(Exception):
    """The run stopped with references that have no record: their chunks are still out.

    Attributes:
        missing: References sent whose chunk gave no result in time.
        unsent: Whether some of the input was never sent (the broker stayed away).
    """

    def __init__(self, missing: int, *, unsent: bool, reason: str) -> None:
        rest = " and the rest of the input was not sent" if unsent else ""
        super().__init__(f"{reason}: {missing} references sent have no record{rest}")
        self.missing = missing
        self.unsent = unsent


class RunStopped(Exception):
    """A chunk met a failure no later request can change (a dead key): the run stopped.

    Every item has a record by then: those not sent say ``RunStoppedError``.

    Attributes:
        mark: What stopped it, and where.
    """

    def __init__(self, mark: StopMark) -> None:
        super().__init__(f"the run stopped on {mark.reason}, which no later request could change")
        self.mark = mark


@dataclass
class _Chunk:
    items: list[Item]
    indexes: list[int]


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


class _Results:
    """The result backend, read for many chunks at once, through its outages."""

    def __init__(self) -> None:
        self.backend: Any = app.backend
        self.errors: tuple[type[BaseException], ...] = (
            *getattr(self.backend, "connection_errors", ()),
            OSError,
        )
        self.away_since: float | None = None

    def finished(self, ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
        """Each chunk of ``ids`` that is done: its records, or why its task failed.

        The records come as a function that decodes them, called as each chunk is
        written: a batch's stored text is held at once, its records a chunk at a time.
        Returns ``{}`` while the backend is away.
        """
        backend = self.backend
        keys = [backend.get_key_for_task(records_id(i)) for i in ids]
        keys += [backend.get_key_for_task(i) for i in ids]
        try:
            values = list(backend.mget(keys))
        except self.errors as error:
            if self.away_since is None:
                self.away_since = time.monotonic()
                logger.warning("result backend unreachable (%s): trying again", error)
            return {}
        if self.away_since is not None:
            logger.warning("result backend back after %.1f s", time.monotonic() - self.away_since)
            self.away_since = None
        done: dict[str, tuple[str, Any]] = {}
        for task_id, records, state in zip(
            ids, values[: len(ids)], values[len(ids) :], strict=True
        ):
            if records is not None:
                done[task_id] = ("records", functools.partial(_decoded, backend, records))
            elif state is not None:
                meta = backend.decode_result(state)
                if meta["status"] == "FAILURE":
                    done[task_id] = ("error", backend.exception_to_python(meta["result"]))
                elif meta["status"] == "REVOKED":
                    done[task_id] = ("error", RuntimeError("the chunk's task was revoked"))
        return done

    def stop_mark(self, run: str) -> StopMark | None:
        """The run's stop mark, once a chunk stopped on a fatal failure (``None`` if away)."""
        try:
            return stored_stop(self.backend, run)
        except self.errors:
            return None  # away: the results, read the same way, wait for it too

    def forget_run(self, run: str) -> None:
        """Remove the run's stop mark (it expires anyway)."""
        backend = self.backend
        with contextlib.suppress(*self.errors):
            backend.delete(stop_key(backend, run))

    def forget(self, task_id: str) -> None:
        """Remove what the backend holds of a chunk read (it expires anyway)."""
        backend = self.backend
        for key in (
            backend.get_key_for_task(records_id(task_id)),
            backend.get_key_for_task(task_id),
            backend.key_t(deliveries_key(task_id)),
        ):
            with contextlib.suppress(*self.errors):
                backend.delete(key)


def _decoded(backend: Any, stored: bytes) -> list[CloseRecord]:
    records: list[CloseRecord] = backend.decode_result(stored)["result"]
    return records


def _records(done: tuple[str, Any], chunk: _Chunk, country: str | None) -> list[CloseRecord]:
    """A finished chunk's records: its own, or failed ones if its task failed."""
    kind, value = done
    if kind == "records":
        records: list[CloseRecord] = value()
        return records
    logger.error("a chunk at index %d failed: %r", chunk.indexes[0], value)
    return failed_records(
        chunk.items,
        chunk.indexes,
        country=country,
        error_type=type(value).__name__,
        error=f"the chunk's task failed: {value}",
    )


def _finished(
    results: _Results, out: dict[str, _Chunk], country: str | None
) -> Iterator[list[CloseRecord]]:
    """The records of each chunk of ``out`` that is done, taken off ``out``."""
    for batch in chunked(list(out), READ_BATCH):
        for task_id, done in results.finished(batch).items():
            yield _records(done, out.pop(task_id), country)
            results.forget(task_id)


def close_in_chunks(
    items: Iterable[Item],
    *,
    country: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    timeout: float = 3600.0,
    in_flight: int = DEFAULT_IN_FLIGHT,
    skip: Container[int] = frozenset(),
    stop_on_fatal: bool = True,
) -> Iterator[list[CloseRecord]]:
    """Close ``items`` on the workers; yield each chunk's records as the chunk finishes.

    Sends ``close_chunk`` tasks as it reads ``items``, keeping at most ``in_flight``
    chunks out, and yields the records of every chunk once, in the order chunks finish.
    Items whose position is in ``skip`` are not sent (they have a record already).

    With ``stop_on_fatal``, a chunk that meets a fatal failure (a dead key) stops the run:
    nothing more is published, the chunks out end without sending, and the items not
    sent get ``RunStoppedError`` records, yielded too; then `RunStopped` is raised.

    Raises:
        RunIncomplete: ``timeout`` seconds passed with chunks still out, or the broker
            stayed away: the records yielded are final, the rest have none.
        RunStopped: The run stopped on a fatal failure; every item has a record.
    """
    deadline = time.monotonic() + timeout
    wanted = ((index, item) for index, item in enumerate(items) if index not in skip)
    chunks = (
        _Chunk([item for _, item in pairs], [index for index, _ in pairs])
        for pairs in chunked(wanted, chunk_size)
    )
    results = _Results()
    run = uuid.uuid4().hex if stop_on_fatal else None  # the stop mark's name
    stop: StopMark | None = None
    out: dict[str, _Chunk] = {}  # task id -> the chunk it carries
    all_sent = broker_away = False
    while True:
        if run is not None and stop is None and (stop := results.stop_mark(run)) is not None:
            logger.error("the run stopped on %s: nothing more is sent", stop.reason)
            for rest in chunks:  # the rest of the input, a chunk at a time
                yield stop.not_sent(rest.items, rest.indexes, country)
            all_sent = True
        while not (all_sent or broker_away) and len(out) < in_flight:
            if (chunk := next(chunks, None)) is None:
                all_sent = True
                break
            try:  # the publish itself retries for a minute (task_publish_retry_policy)
                sent = close_chunk_task.apply_async(args=(chunk.items, chunk.indexes, country, run))
            except OperationalError:
                logger.exception("the broker is unreachable: nothing more is sent")
                broker_away = True
                break
            out[sent.id] = chunk
        if not out:
            break
        waiting = len(out)
        yield from _finished(results, out, country)
        if len(out) == waiting:  # none finished
            if time.monotonic() > deadline:
                missing = sum(len(chunk.indexes) for chunk in out.values())
                raise RunIncomplete(
                    missing, unsent=not all_sent, reason=f"not done in {timeout:g} s"
                )
            time.sleep(POLL_INTERVAL)
    if stop is not None:
        assert run is not None
        results.forget_run(run)
        raise RunStopped(stop)
    if broker_away:
        raise RunIncomplete(0, unsent=True, reason="the broker stayed away")


def main(argv: Sequence[str] | None = None) -> int:
    """Close the payments of a CSV file on the workers; the exit code says how it went."""
    parser = argparse.ArgumentParser(prog="python -m examples.celery_worker.producer")
    parser.add_argument("file", type=Path, help="CSV with a reference column")
    parser.add_argument("--country", help="the country of rows that name none")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds in all")
    parser.add_argument("--output", type=Path, help="write the records there, as JSON lines")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="send only rows the --output file has no record of, or that a stopped run did "
        "not send or a dead key refused",
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="do not stop the run on a dead key"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    skip = IndexSet()
    if args.resume:
        if args.output is None:
            parser.error("--resume needs --output")
        if args.output.exists():
            try:
                skip = written_indexes(args.output)
            except ValueError as error:
                parser.error(str(error))
    counts = {True: 0, False: 0}
    output = (
        args.output.open("a" if args.resume else "w", encoding="utf-8") if args.output else None
    )
    chunks = close_in_chunks(
        read_rows(args.file),
        country=args.country,
        chunk_size=args.chunk_size,
        timeout=args.timeout,
        skip=skip,
        stop_on_fatal=not args.keep_going,
    )
    ended: RunIncomplete | RunStopped | KeyboardInterrupt | None = None
    try:
        write_records(chunks, output, skip.copy(), counts)
    except (RunIncomplete, RunStopped, KeyboardInterrupt) as error:  # Ctrl-C: records kept
        ended = error
    finally:
        if output is not None:
            output.close()
    done = f"{counts[True]} closed, {counts[False]} not closed"
    if skip:
        done += f" ({len(skip)} had a record already)"
    print(done, file=sys.stderr)
    return _exit_code(ended, counts)


def _exit_code(
    ended: RunIncomplete | RunStopped | KeyboardInterrupt | None, counts: dict[bool, int]
) -> int:
    """The command's exit code; why the run ended early, if it did, on stderr."""
    if isinstance(ended, KeyboardInterrupt):
        print(
            "interrupted: the chunks still out go on in the workers; run again with "
            "--resume to write their records",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if isinstance(ended, RunStopped):
        print(f"{ended}; fix it, then run again with --resume", file=sys.stderr)
        return EXIT_STOPPED
    if isinstance(ended, RunIncomplete):
        print(f"the run did not complete: {ended}; run again with --resume", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0 if counts[False] == 0 else 1


if __name__ == "__main__":
    sys.exit(traced_main(main))  # main() alone when OTEL_TRACES_EXPORTER is unset
