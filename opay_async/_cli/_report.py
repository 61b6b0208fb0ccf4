"""What ``close-many`` shows a person: a live progress bar and a summary, on stderr.

The bar is drawn only where nothing else is written: on a terminal, when the results do
not go to that terminal too (``close-many`` decides, see ``Tally``). Its last frame shows
the final counts. Text that comes from the input or from OPay (error codes, order
statuses) is shown with its control characters escaped and is never read as markup.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from .. import PaymentAlreadyPaidError, PaymentNotClosedError
from ._text import printable

if TYPE_CHECKING:
    from types import TracebackType

    from .. import CloseOutcome

__all__ = ["Tally"]


#: Distinct error codes (or order statuses) listed in the summary; the rest are summed.
SHOWN_CODES: Final = 12


def _most_common(counts: Counter[str]) -> list[tuple[str, int]]:
    """The most common entries, made printable; the rest summed as ``other``."""
    shown = [(printable(key, limit=40), count) for key, count in counts.most_common(SHOWN_CODES)]
    rest = sum(counts.values()) - sum(count for _, count in shown)
    if rest:
        shown.append((f"{len(counts) - SHOWN_CODES} other", rest))
    return shown


class Tally:
    """Counts outcomes as they come and draws the progress bar.

    Args:
        console: Where the bar and the summary go.
        total: Rows in the input, when known.
        bar: Whether to draw a progress bar (only on a terminal that nothing else
            writes to while it runs).

    Attributes:
        done: Outcomes seen.
        closed: Payments OPay reports as CLOSE (the only rows whose orders may be
            marked cancelled).
        paid: Payments paid meanwhile (``PaymentAlreadyPaidError``): refund them.
        not_closed: Other states OPay reported after the close, counted by state.
        failed: Outcomes with any other error.
        retries: Attempts beyond the first, summed.
        skipped: Rows skipped by ``--resume``.
        interrupted: Whether the run was stopped before the end of its input.
    """

    def __init__(self, console: Console, total: int | None, *, bar: bool = True) -> None:
        self.console = console
        self.total = total
        self.done = self.closed = self.paid = self.failed = self.retries = self.skipped = 0
        self.notes: list[str] = []  # plain words printed under the summary
        self.interrupted = False
        self.not_closed: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.started = time.perf_counter()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if bar and console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]closing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("closed [green]{task.fields[closed]}"),
                TextColumn("not closed [red]{task.fields[failed]}"),
                TextColumn("retries {task.fields[retries]}"),
                TextColumn("{task.fields[rate]:.0f}/s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )

    def __enter__(self) -> Tally:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task(
                "close", total=self.total, closed=0, failed=0, retries=0, rate=0.0
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._draw(final=True)
            self._progress.stop()  # draws the last frame, with the final counts

    @property
    def elapsed(self) -> float:
        """Seconds since the tally started."""
        return time.perf_counter() - self.started

    def add(self, outcome: CloseOutcome) -> None:
        """Count ``outcome`` and move the bar."""
        self.done += 1
        self.retries += max(0, outcome.attempts - 1)
        error = outcome.error
        if error is None:
            self.closed += 1
        elif isinstance(error, PaymentAlreadyPaidError):
            self.paid += 1
        elif isinstance(error, PaymentNotClosedError):
            self.not_closed[error.payment.raw_order_status] += 1
        else:
            self.failed += 1
            self.errors[str(getattr(error, "code", type(error).__name__))] += 1
        self._draw()

    def skip(self) -> None:
        """Count a row skipped by ``--resume`` (it moves the bar too)."""
        self.skipped += 1
        self._draw()

    def _draw(self, *, final: bool = False) -> None:
        if self._progress is None or self._task is None:
            return
        done = self.done + self.skipped
        total = self.total
        if final and total is None and not self.interrupted:
            total = done  # the input ended: the bar shows it complete
        self._progress.update(
            self._task,
            completed=done,
            total=total,
            closed=self.closed,
            failed=self.done - self.closed,
            retries=self.retries,
            rate=self.done / max(self.elapsed, 1e-9),
        )

    @property
    def all_closed(self) -> bool:
        """Whether every outcome was a closed payment."""
        return self.closed == self.done

    def summary(self, *, interrupted: bool | None = None) -> Table:
        """A table of what happened (``interrupted`` defaults to the attribute)."""
        if interrupted is None:
            interrupted = self.interrupted
        title = "close-many interrupted" if interrupted else "close-many summary"
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("processed", f"{self.done}" + (f" of {self.total}" if self.total else ""))
        if self.skipped:
            table.add_row("skipped (closed in an earlier run)", str(self.skipped))
        table.add_row("closed", str(self.closed))
        if self.paid:
            table.add_row("paid meanwhile: refund, do not cancel", str(self.paid))
        for status, count in _most_common(self.not_closed):
            table.add_row(Text(f"answered {status} (not closed)"), str(count))
        table.add_row("failed", str(self.failed))
        for code, count in _most_common(self.errors):
            table.add_row(Text(f"  {code}"), str(count))
        table.add_row("retries", str(self.retries))
        elapsed = self.elapsed
        table.add_row("time", f"{elapsed:.2f} s")
        table.add_row("rate", f"{self.done / max(elapsed, 1e-9):.0f} closes/s")
        return table

    def plain_words(self, results: str) -> list[str]:
        """What the summary means, in sentences: where the rows not closed are, and notes.

        Args:
            results: Where the records went (a file name, or standard output).
        """
        lines: list[str] = []
        not_closed = self.done - self.closed
        if not_closed:
            rows = "1 row was" if not_closed == 1 else f"{not_closed} rows were"
            lines.append(
                f"{rows} not closed: their records in {results} have "
                '"ok": false, with the error and whether a later run may close them '
                '("retryable").'
            )
        if self.paid:
            payments = "1 payment was" if self.paid == 1 else f"{self.paid} payments were"
            lines.append(
                f"{payments} paid meanwhile: refund them; do not mark their orders cancelled."
            )
        return lines + self.notes
