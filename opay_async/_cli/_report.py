"""What ``close-many`` shows a person: a live progress bar and a summary, on stderr."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from types import TracebackType

    from .._outcome import CloseOutcome

__all__ = ["Tally"]


class Tally:
    """Counts outcomes as they come and draws the progress bar (when stderr is a terminal).

    Attributes:
        done: Outcomes seen.
        closed: Payments OPay reports as CLOSE.
        failed: Outcomes with an error.
        retries: Attempts beyond the first, summed.
        skipped: Rows skipped by ``--resume``.
    """

    def __init__(self, console: Console, total: int | None) -> None:
        self.console = console
        self.total = total
        self.done = self.closed = self.failed = self.retries = self.skipped = 0
        self.not_closed: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.started = time.perf_counter()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]closing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("closed [green]{task.fields[closed]}"),
                TextColumn("failed [red]{task.fields[failed]}"),
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
            self._progress.stop()

    @property
    def elapsed(self) -> float:
        """Seconds since the tally started."""
        return time.perf_counter() - self.started

    def add(self, outcome: CloseOutcome) -> None:
        """Count ``outcome`` and move the bar."""
        self.done += 1
        self.retries += max(0, outcome.attempts - 1)
        if outcome.error is not None:
            self.failed += 1
            self.errors[getattr(outcome.error, "code", type(outcome.error).__name__)] += 1
        elif outcome.payment is not None and outcome.payment.is_closed:
            self.closed += 1
        elif outcome.payment is not None:
            self.not_closed[outcome.payment.raw_order_status] += 1
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                advance=1,
                closed=self.closed,
                failed=self.failed,
                retries=self.retries,
                rate=self.done / max(self.elapsed, 1e-9),
            )

    @property
    def all_closed(self) -> bool:
        """Whether every outcome was a closed payment."""
        return self.closed == self.done

    def summary(self, *, interrupted: bool = False) -> Table:
        """A table of what happened."""
        title = "close-many interrupted" if interrupted else "close-many summary"
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("processed", f"{self.done}" + (f" of {self.total}" if self.total else ""))
        if self.skipped:
            table.add_row("skipped (closed in an earlier run)", str(self.skipped))
        table.add_row("closed", str(self.closed))
        for status, count in sorted(self.not_closed.items()):
            table.add_row(f"answered {status} (not closed)", str(count))
        table.add_row("failed", str(self.failed))
        for code, count in self.errors.most_common():
            table.add_row(f"  {code}", str(count))
        table.add_row("retries", str(self.retries))
        elapsed = self.elapsed
        table.add_row("time", f"{elapsed:.2f} s")
        table.add_row("rate", f"{self.done / max(elapsed, 1e-9):.0f} closes/s")
        return table
