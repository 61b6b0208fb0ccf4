"""What ``--resume`` finds in an earlier results file, and which rows it sends again.

The rule (docs/cli.md, "Resuming a run"): a row is known by its reference, else its
order number, else (a row naming neither) by its row number alone; its records are the
ones for that reference (or order number) and its row number.

- A row an earlier record shows closed is skipped: it never gets a second record.
- A row an earlier record shows failed for a reason a second try of the same row cannot
  change (``FINAL_ERRORS``: the row is not valid, OPay does not know the payment, it was
  paid, or it failed) is skipped too, as long as the row still says what it said then
  (the same country; for a row that was not valid, the same order number too), and so
  is a row making the same request as another row that failed for good. A row that was
  fixed in the input is sent again.
- Any other failure (50003, a timeout, a wrong key or merchant id since fixed, an answer
  that could not be read, a row a stopped run did not send) is sent again, and its new
  record's ``supersedes`` is the line number of the record it replaces: the current
  record of a row is the one no later line supersedes.

Only the failures are kept in memory with their details; closed rows cost a set entry.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Final

import attrs

__all__ = ["FINAL_ERRORS", "MAX_RECORD_BYTES", "Earlier", "Skip", "read_earlier"]

#: Lines of an earlier results file longer than this are not records of ours.
MAX_RECORD_BYTES: Final = 1 << 20
#: Failures a second try of the same row cannot change (``PaymentNotClosedError`` joins
#: them for a ``FAIL`` payment: nothing to close).
FINAL_ERRORS: Final = frozenset(
    {"OPayValidationError", "PaymentNotFoundError", "PaymentAlreadyPaidError"}
)
#: How every record of ours starts: a torn last line that does not is not ours to drop.
RECORD_START: Final = b'{"row":'

#: How a row is known: ``("reference", ...)``, ``("order_no", ...)`` or ``("row", "7")``.
Key = tuple[str, str]


class Skip(enum.Enum):
    """Why ``--resume`` does not send a row again."""

    CLOSED = "closed"
    FINAL = "final"


@attrs.define
class _Failure:
    """An earlier failed record: where it is and what its row said."""

    line: int
    row: int | None
    country: str | None
    order_no: str | None
    final: bool
    validation: bool
    replaced: bool = False


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _key(reference: str | None, order_no: str | None, row: int) -> Key:
    """How the row is known (see the module's docstring)."""
    if reference:
        return ("reference", reference)
    if order_no:
        return ("order_no", order_no)
    return ("row", str(row))


@attrs.define
class Earlier:
    """What an earlier results file shows.

    Attributes:
        references: References of rows it shows closed.
        order_numbers: Order numbers of rows it shows closed.
        records: Complete lines that are JSON objects.
        lines: Complete lines (the next record written is line ``lines + 1``).
        end: Bytes up to the end of its last complete line.
        tail: The first bytes of a last line without its newline (a run stopped
            mid-write), else ``None``.
    """

    references: set[str] = attrs.field(factory=set[str])
    order_numbers: set[str] = attrs.field(factory=set[str])
    records: int = 0
    lines: int = 0
    end: int = 0
    tail: bytes | None = None
    _failures: dict[Key, list[_Failure]] = attrs.field(factory=dict[Key, list[_Failure]])
    _by_line: dict[int, _Failure] = attrs.field(factory=dict[int, _Failure])

    @property
    def torn(self) -> bool:
        """Whether its last line lacks a newline (a run stopped mid-write)."""
        return self.tail is not None

    def note(self, line: bytes) -> None:
        """Take in complete line number ``self.lines`` of the file."""
        try:
            record: Any = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        fields: dict[str, Any] = record  # pyright: ignore[reportUnknownVariableType]
        self.records += 1
        replaced = self._by_line.get(fields.get("supersedes"))  # type: ignore[arg-type]
        if replaced is not None:
            replaced.replaced = True
        reference, order_no = _text(fields.get("reference")), _text(fields.get("order_no"))
        if fields.get("order_status") == "CLOSE":
            if reference:
                self.references.add(reference)
            if order_no:
                self.order_numbers.add(order_no)
            return
        row = fields.get("row")
        error = fields.get("error_type")
        failure = _Failure(
            line=self.lines,
            row=row if isinstance(row, int) else None,
            country=_text(fields.get("country")),
            order_no=order_no,
            final=error in FINAL_ERRORS
            or (error == "PaymentNotClosedError" and fields.get("order_status") == "FAIL"),
            validation=error == "OPayValidationError",
        )
        self._by_line[self.lines] = failure
        keys: list[Key] = []  # found by either identifier: OPay may have added the other
        if reference:
            keys.append(("reference", reference))
        if order_no:
            keys.append(("order_no", order_no))
        if not keys and failure.row is not None:
            keys.append(_key(None, None, failure.row))
        for key in keys:
            self._failures.setdefault(key, []).append(failure)

    def decide(
        self, number: int, row: dict[str, str], country: str | None
    ) -> tuple[Skip | None, int | None]:
        """Whether row ``number`` is skipped, and else the line its new record supersedes.

        Args:
            number: The row's number in the input (1 for the first data row).
            row: Its cells.
            country: The ``--country`` for rows that name none.
        """
        reference, order_no = row.get("reference") or None, row.get("order_no") or None
        if reference is not None:
            closed = reference in self.references
        else:
            closed = order_no is not None and order_no in self.order_numbers
        if closed:
            return Skip.CLOSED, None
        key = _key(reference, order_no, number)
        failures = [f for f in self._failures.get(key, ()) if not f.replaced]
        said = (row.get("country") or country or "").upper()

        def same_request(failure: _Failure) -> bool:
            return (failure.country or "").upper() == said and (
                not failure.validation or failure.order_no == order_no
            )

        mine = next((f for f in reversed(failures) if f.row == number), None)
        if mine is None:  # a row it has no record of (or one the input moved)
            if any(f.final and same_request(f) for f in failures):
                return Skip.FINAL, None  # the same request failed for good, on another row
            return None, None
        if mine.final and same_request(mine):
            return Skip.FINAL, None
        mine.replaced = True
        return None, mine.line


def read_earlier(path: str) -> Earlier:
    """What the results file at ``path`` shows, reading it a line at a time (bounded).

    Only lines that end in a newline count: a last line without one was torn by a
    crash or a full disk (``tail`` holds its start).

    Raises:
        OSError: The file cannot be read.
    """
    earlier = Earlier()
    with open(path, "rb") as stream:
        while line := stream.readline(MAX_RECORD_BYTES):
            if not line.endswith(b"\n"):
                start = line[: len(RECORD_START)]
                if len(line) == MAX_RECORD_BYTES:  # too long to be ours: skip to its end
                    while (rest := stream.readline(MAX_RECORD_BYTES)) and not rest.endswith(b"\n"):
                        pass
                    if rest:
                        earlier.lines += 1
                        earlier.end = stream.tell()
                        continue
                earlier.tail = start
                break
            earlier.lines += 1
            earlier.end = stream.tell()
            earlier.note(line)
    return earlier
