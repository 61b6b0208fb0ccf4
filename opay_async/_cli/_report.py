"""What ``close-many`` shows a person: a live progress bar and a summary, on stderr.

The bar is drawn only where nothing else is written: on a terminal, when the results do
not go to that terminal too (``close-many`` decides, see ``Tally``). Its last frame shows
the final counts. It stays two columns short of the terminal's width: Ctrl-C makes the
terminal echo ``^C`` where the cursor is, and on a full line that wraps, so the bar
would be redrawn below its old frame instead of over it. Text that comes from the input
or from OPay (error codes, order statuses) is shown with its control characters escaped
and is never read as markup.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Final

from rich.console import Console, RenderableType
from rich.constrain import Constrain
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from .. import Amount, PaymentAlreadyPaidError, PaymentNotClosedError, RunStoppedError
from ._text import printable

if TYPE_CHECKING:
    from types import TracebackType

    from .. import CloseOutcome, Payment

__all__ = ["Tally", "plural"]


#: Distinct error codes (or order statuses) listed in the summary; the rest are summed.
SHOWN_CODES: Final = 12


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1.

    Examples:
        >>> plural(1, "row"), plural(0, "row"), plural(2, "payment was", "payments were")
        ('1 row', '0 rows', '2 payments were')
    """
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


#: Columns the bar leaves free at the right: room for the terminal's ``^C``.
ECHO_ROOM: Final = 2


class _Bar(Progress):
    """A progress display narrower than the terminal by ``ECHO_ROOM`` columns."""

    def __init__(self, *columns: ProgressColumn, console: Console) -> None:
        self._screen = console  # Progress asks for its renderable before it knows its console
        super().__init__(*columns, console=console, transient=False)

    def get_renderable(self) -> RenderableType:
        """The bar, constrained to the terminal's width as it is now, less the room."""
        return Constrain(super().get_renderable(), max(self._screen.width - ECHO_ROOM, 1))


def _most_common(counts: Counter[str]) -> list[tuple[str, int]]:
    """The most common entries, made printable; the rest summed as ``other``."""
    shown = [(printable(key, limit=40), count) for key, count in counts.most_common(SHOWN_CODES)]
    rest = sum(counts.values()) - sum(count for _, count in shown)
    if rest:
        shown.append((f"{len(counts) - SHOWN_CODES} other", rest))
    return shown


def _amounts(totals: Counter[str]) -> list[str]:
    """Totals in minor units by currency, shown in major units (``EGP 1,234.56``)."""
    shown = [str(Amount(total, currency)) for currency, total in sorted(totals.items())]
    if len(shown) > SHOWN_CODES:
        shown[SHOWN_CODES - 1 :] = [f"and {len(shown) - SHOWN_CODES + 1} other currencies"]
    return shown


def _count_amount(totals: Counter[str], payment: Payment | None) -> None:
    if payment is not None and payment.amount is not None:
        totals[payment.amount.currency] += payment.amount.total


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
        failed: Outcomes with any other error, but those not sent.
        not_sent: Rows not sent because the run stopped (``RunStoppedError``).
        retries: Attempts beyond the first, summed.
        skipped: Rows skipped by ``--resume``: closed, or failed for good, earlier.
        skipped_final: Of those, the rows an earlier run found cannot be closed.
        closed_amounts: What the closed payments were for, in minor units by currency.
        paid_amounts: What the payments paid meanwhile were for (to refund).
        interrupted: Whether the run was stopped before the end of its input.
    """

    def __init__(self, console: Console, total: int | None, *, bar: bool = True) -> None:
        self.console = console
        self.total = total
        self.done = self.closed = self.paid = self.failed = self.retries = self.not_sent = 0
        self.skipped = self.skipped_final = 0
        self.closed_amounts: Counter[str] = Counter()
        self.paid_amounts: Counter[str] = Counter()
        self.notes: list[str] = []  # plain words printed under the summary
        self.interrupted = False
        self.not_closed: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.started = time.perf_counter()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if bar and console.is_terminal:
            self._progress = _Bar(
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
            _count_amount(self.closed_amounts, outcome.payment)
        elif isinstance(error, PaymentAlreadyPaidError):
            self.paid += 1
            _count_amount(self.paid_amounts, error.payment)
        elif isinstance(error, PaymentNotClosedError):
            self.not_closed[error.payment.raw_order_status] += 1
        elif isinstance(error, RunStoppedError):
            self.not_sent += 1
        else:
            self.failed += 1
            self.errors[str(getattr(error, "code", type(error).__name__))] += 1
        self._draw()

    def skip(self, *, final: bool = False) -> None:
        """Count a row skipped by ``--resume`` (it moves the bar too).

        Args:
            final: The row failed for good in an earlier run (else it was closed).
        """
        self.skipped += 1
        self.skipped_final += final
        self._draw()

    def _draw(self, *, final: bool = False) -> None:
        if self._progress is None or self._task is None:
            return
        done = self.done + self.skipped
        total = self.total
        if final and total is None and not self.interrupted:
            total = done  # the input ended: the bar shows it complete
        # The rows --resume skipped count too: closed, or failed for good, in an earlier run.
        closed = self.closed + self.skipped - self.skipped_final
        self._progress.update(
            self._task,
            completed=done,
            total=total,
            closed=closed,
            failed=done - closed,
            retries=self.retries,
            rate=self.done / max(self.elapsed, 1e-9),
        )

    @property
    def all_closed(self) -> bool:
        """Whether every row is closed: every outcome, and every row ``--resume`` skipped."""
        return self.closed == self.done and self.skipped_final == 0

    def summary(self, *, interrupted: bool | None = None) -> Table:
        """A table of what happened (``interrupted`` defaults to the attribute)."""
        if interrupted is None:
            interrupted = self.interrupted
        title = "close-many interrupted" if interrupted else "close-many summary"
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("processed", f"{self.done}" + (f" of {self.total}" if self.total else ""))
        if self.skipped - self.skipped_final:
            table.add_row(
                "skipped: closed in an earlier run", str(self.skipped - self.skipped_final)
            )
        if self.skipped_final:
            table.add_row("skipped: failed for good in an earlier run", str(self.skipped_final))
        table.add_row("closed", str(self.closed))
        for amount in _amounts(self.closed_amounts):
            table.add_row("  amount", amount)
        if self.paid:
            table.add_row("paid meanwhile: refund, do not cancel", str(self.paid))
            for amount in _amounts(self.paid_amounts):
                table.add_row("  amount", amount)
        for status, count in _most_common(self.not_closed):
            table.add_row(Text(f"answered {status} (not closed)"), str(count))
        table.add_row("failed", str(self.failed))
        for code, count in _most_common(self.errors):
            table.add_row(Text(f"  {code}"), str(count))
        if self.not_sent:
            table.add_row("not sent: the run stopped", str(self.not_sent))
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
            one = not_closed == 1
            lines.append(
                f"{plural(not_closed, 'row was', 'rows were')} not closed: "
                f"{'its record' if one else 'their records'} in {results} "
                f'{"has" if one else "have"} "ok":false, with the error and whether a later '
                f'run may close {"it" if one else "them"} ("retryable").'
            )
        if self.paid:
            one = self.paid == 1
            lines.append(
                f"{plural(self.paid, 'payment was', 'payments were')} paid meanwhile: "
                f"refund {'it' if one else 'them'}; do not mark "
                f"{'its order' if one else 'their orders'} cancelled."
            )
        if self.skipped_final:
            one = self.skipped_final == 1
            lines.append(
                f"{plural(self.skipped_final, 'row was', 'rows were')} not sent again: "
                f"{'its record' if one else 'their records'} in {results} from an earlier "
                f"run {'says' if one else 'say'} why {'it' if one else 'they'} cannot be "
                "closed (not valid, not found, paid or failed); a row fixed in the input "
                "is sent again."
            )
        return lines + self.notes
