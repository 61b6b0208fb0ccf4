"""``opay-async close-many``: close every payment an input lists, writing one record per row.

The order of the checks is the promise: the configuration, then the whole input (a
regular file is read once to count and check every row), then the results file: a
problem with any of them ends the command with one line (exit 2) before anything is
sent or any file is truncated. Standard input and pipes cannot be read twice: a bad line
there stops the reading, the rows before it are finished and written, and the command
ends with the line's problem (exit 2).

An answer no later request can change (a ``fatal`` error: the key refused) stops the
sending, as in the SDK: the rows not sent get records saying ``RunStoppedError``, and the
command ends with one line saying why and exit code 4 (``--keep-going`` sends them all).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING

from rich.console import Console

from .. import CloseOutcome, OPayError, OPayValidationError
from .._stop import describe
from ._config import SIMULATED_FAULT_RATE, build_client
from ._exit import (
    EXIT_INTERRUPTED,
    EXIT_NOT_ALL_CLOSED,
    EXIT_OK,
    EXIT_STOPPED,
    UsageError,
    stop_on_sigterm,
)
from ._feed import ThreadFeed
from ._input import InputError, Row, Source, chunks, open_source, rows_of
from ._output import ResultsFile, outcome_record
from ._report import Tally, plural
from ._resume import Skip
from ._text import printable

if TYPE_CHECKING:
    from .. import OPayClient

__all__ = ["close_many"]


class _Run:
    """One run: rows in, records out, and how it ended."""

    def __init__(
        self, source: Source, results: ResultsFile, tally: Tally, country: str | None
    ) -> None:
        self.source = source
        self.results = results
        self.tally = tally
        self.country = country  # --country
        # bulk index -> the input row's number, cells and the line it supersedes, in flight
        self.rows_in_flight: dict[int, tuple[int, dict[str, str], int | None]] = {}
        self.input_error: InputError | None = None
        self.output_error: UsageError | None = None
        self.interrupted = False
        self.stops = True  # on a fatal error (not with --keep-going)
        self.stopped_by: tuple[int, OPayError] | None = None  # the row and the fatal error

    async def rows(self) -> AsyncGenerator[dict[str, str], None]:
        """The rows to close, in input order, read in a thread.

        Rows ``--resume`` finds done (closed, or failed for good) are counted and
        skipped. A bad line stops the input there (the rows before it are finished) and
        is kept in ``input_error``.
        """
        has_country = self.country is not None
        rows = rows_of(chunks(self.source), name=self.source.name, country=has_country)
        feed: ThreadFeed[Row] = ThreadFeed(rows)
        index = 0
        try:
            async with contextlib.aclosing(feed.items()) as items:
                async for number, row in items:
                    skip, supersedes = self.results.earlier.decide(number, row, self.country)
                    if skip is not None:
                        self.tally.skip(final=skip is Skip.FINAL)
                        continue
                    if not has_country and not row.get("country"):
                        self._refuse(number, row, supersedes)  # a row of its own
                        continue
                    self.rows_in_flight[index] = (number, row, supersedes)
                    index += 1
                    yield row
        except InputError as error:
            self.input_error = error

    def _refuse(self, number: int, row: dict[str, str], supersedes: int | None) -> None:
        """Write the failed record of a row that names no country, with no ``--country``."""
        error = OPayValidationError(
            "country",
            "the row names none; give --country for the rows that name no country",
            reference=row.get("reference") or None,
            order_no=row.get("order_no") or None,
        )
        outcome = CloseOutcome(request=None, payment=None, error=error, attempts=0)
        self.results.write(outcome_record(outcome, number, said=row, supersedes=supersedes))
        self.tally.add(outcome)

    async def close_all(self, client: OPayClient, args: argparse.Namespace) -> None:
        """Close every row with ``client``, writing each record as its outcome comes."""
        outcomes = client.iter_close_many(
            self.rows(),
            country=args.country,
            concurrency=args.concurrency,
            rate_limit=args.rate,
            stop_on_fatal=not args.keep_going,
        )
        self.stops = not args.keep_going
        stop_on_sigterm()
        try:
            async with client:
                try:
                    await self._write_all(outcomes)
                finally:  # cancels the requests in flight when the run stops early
                    await _aclose(outcomes)
        except asyncio.CancelledError:  # Ctrl-C (asyncio.run cancels this task) or SIGTERM
            self.interrupted = self.tally.interrupted = True
        except UsageError as error:  # the results cannot be written: stop sending
            self.output_error = error

    async def _write_all(self, outcomes: AsyncIterator[CloseOutcome]) -> None:
        async for outcome in outcomes:
            number, row, supersedes = self.rows_in_flight.pop(outcome.index)
            said = {**row, "country": row.get("country") or self.country or ""}
            self.results.write(outcome_record(outcome, number, said=said, supersedes=supersedes))
            self.tally.add(outcome)
            error = outcome.error
            if self.stops and self.stopped_by is None and error is not None and error.fatal:
                self.stopped_by = (number, error)  # the first to come is the one it stopped on

    def stop_line(self, results: str) -> str:
        """Why the run stopped sending, in one line (``stopped_by`` is set)."""
        assert self.stopped_by is not None
        row, error = self.stopped_by
        not_sent = self.tally.not_sent
        left = (
            f"{plural(not_sent, 'row was', 'rows were')} not sent (their records in "
            f'{results} say "error_type":"RunStoppedError")'
            if not_sent
            else "no row was left to send"
        )
        return (
            f"stopped: row {row} was answered {describe(error)} "
            f"({printable(error.message, limit=80)}), which no later request could change: "
            f"{left}; fix the key or the merchant's settings, then run again with --resume"
        )


async def _aclose(iterator: object) -> None:
    """Close an async generator (``iter_close_many`` returns one)."""
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


def _counted(source: Source, country: bool) -> int | None:
    """Rows in a regular file, every one checked; ``None`` for a stream."""
    if not source.regular:
        return None
    return sum(1 for _ in rows_of(chunks(source), name=source.name, country=country))


def close_many(args: argparse.Namespace) -> int:
    """Close every payment the input lists; write one record per row.

    Returns:
        0 if every row was closed, 1 if some were not, 4 if the run stopped on an answer
        no later request could change, 130 if interrupted.

    Raises:
        UsageError: Bad configuration, input or output (one line; exit code 2).
    """
    source = open_source(args.file)
    country = args.country is not None
    client = build_client(args)
    try:
        total = _counted(source, country)
        results = ResultsFile.open(
            args.output, resume=args.resume, force=args.force, input_path=source.path
        )
    except BaseException:
        asyncio.run(client.aclose())
        raise
    console = Console(stderr=True)
    bar = not (results.is_terminal or args.verbose)  # nothing else writes where it draws
    tally = Tally(console, total, bar=bar)
    run = _Run(source, results, tally, args.country)
    if results.dropped_tail:
        tally.notes.append(
            f"--resume dropped the partial last line of {results.name} (a run stopped "
            "mid-write): that record was never finished, and its row was done again."
        )
    try:
        with tally:
            asyncio.run(run.close_all(client, args))
    finally:
        results.close()
    if args.simulate:
        tally.notes.append(
            f"--simulate: the built-in simulator answers {SIMULATED_FAULT_RATE:.0%} of "
            'requests with 50003 "service not available" on purpose, to show retries at '
            "work; nothing was sent to OPay."
        )
    failure = run.output_error or run.input_error
    if failure is None or tally.done + tally.skipped > 0:  # else the failure says it all
        console.print(tally.summary())
        for line in tally.plain_words(results.name):
            console.print(line, markup=False, highlight=False)
    if run.output_error is not None:
        hint = "; run again with --resume once that is fixed" if results.owned else ""
        raise UsageError(f"{run.output_error} (after {results.written} records){hint}")
    if run.input_error is not None:
        raise run.input_error
    if run.interrupted:
        console.print(
            f"interrupted: {plural(results.written, 'row')} written to {results.name}; "
            "run again with --resume to continue",
            markup=False,
            highlight=False,
        )
        return EXIT_INTERRUPTED
    if run.stopped_by is not None:
        console.print(run.stop_line(results.name), markup=False, highlight=False, soft_wrap=True)
        return EXIT_STOPPED
    return EXIT_OK if tally.all_closed else EXIT_NOT_ALL_CLOSED
