"""The JSON-lines results file of ``close-many``: one line per input row, written as it comes.

Each record is one ``os.write`` of a whole line (no buffer to flush at exit, nothing half
written by Python), so a run that is killed loses nothing it wrote. A run that crashed
mid-write (or met a full disk) can leave a last line without its newline: ``--resume``
counts only lines that end in a newline, and appends on a fresh line.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._exit import UsageError
from ._text import json_line, printable

if TYPE_CHECKING:
    from .. import CloseOutcome

__all__ = ["Closed", "ResultsFile", "already_closed", "outcome_record"]

#: Lines of an earlier results file longer than this are not records of ours.
MAX_RECORD_BYTES: Final = 1 << 20


def outcome_record(outcome: CloseOutcome, row: int) -> dict[str, Any]:
    """The JSON object written for ``outcome``: its ``to_record()``, with its input ``row``.

    ``row`` (1 for the first data row) takes the place of the outcome's ``index`` in the
    bulk run, which means nothing to whoever reads the file.

    Examples:
        >>> from opay_async import CloseOutcome, CloseRequest, PaymentNotFoundError
        >>> missing = CloseOutcome(request=CloseRequest(reference="A1", country="EG"),
        ...     payment=None, error=PaymentNotFoundError("02006", "payment not found."),
        ...     attempts=1, index=4)
        >>> record = outcome_record(missing, row=7)
        >>> record["row"], record["ok"], record["error_type"], record["error_code"]
        (7, False, 'PaymentNotFoundError', '02006')
    """
    record: dict[str, Any] = {"row": row}
    record.update((key, value) for key, value in outcome.to_record().items() if key != "index")
    return record


@attrs.define
class Closed:
    """What an earlier results file shows.

    Attributes:
        references: References of rows it shows closed.
        order_numbers: Order numbers of rows it shows closed.
        records: Complete lines that are JSON objects.
        torn: Whether its last line lacks a newline (a run stopped mid-write).
    """

    references: set[str] = attrs.field(factory=set[str])
    order_numbers: set[str] = attrs.field(factory=set[str])
    records: int = 0
    torn: bool = False

    def has(self, row: dict[str, str]) -> bool:
        """Whether ``row`` (a row of the input) was closed by the earlier run."""
        reference, order_no = row.get("reference"), row.get("order_no")
        if reference:
            return reference in self.references
        return bool(order_no) and order_no in self.order_numbers


def _note(closed: Closed, line: bytes) -> None:
    try:
        record = json.loads(line)
    except ValueError:
        return
    if not isinstance(record, dict):
        return
    closed.records += 1
    if record.get("order_status") != "CLOSE":  # pyright: ignore[reportUnknownMemberType]
        return
    reference, order_no = record.get("reference"), record.get("order_no")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if isinstance(reference, str):
        closed.references.add(reference)
    if isinstance(order_no, str):
        closed.order_numbers.add(order_no)


def already_closed(path: str) -> Closed:
    """What the results file at ``path`` shows, reading it a line at a time (bounded).

    Only lines that end in a newline count: a last line without one was torn by a
    crash or a full disk, and its row is done again.

    Raises:
        OSError: The file cannot be read.
    """
    closed = Closed()
    with open(path, "rb") as stream:
        while line := stream.readline(MAX_RECORD_BYTES):
            if not line.endswith(b"\n"):
                if len(line) < MAX_RECORD_BYTES:
                    closed.torn = True
                    break
                while (rest := stream.readline(MAX_RECORD_BYTES)) and not rest.endswith(b"\n"):
                    pass  # skip a line too long to be ours
                continue
            _note(closed, line)
    return closed


def _describe(error: OSError) -> str:
    if error.errno == errno.EPIPE:
        return "the reader closed it (broken pipe)"
    return error.strerror or str(error)


class ResultsFile:
    """Where ``close-many`` writes its records: a file, or standard output.

    Attributes:
        name: How messages name it.
        closed: What the file showed before this run (``--resume``), else nothing.
        written: Records written by this run.
        is_terminal: Whether the records go to a terminal.
        owned: Whether it is a file this run opened (not standard output).
    """

    def __init__(self, fd: int, name: str, closed: Closed, *, owned: bool) -> None:
        self._fd = fd
        self.owned = owned
        self.name = name
        self.closed = closed
        self.written = 0
        self.is_terminal = os.isatty(fd)

    @classmethod
    def open(cls, path: str, *, resume: bool, force: bool, input_path: str | None) -> ResultsFile:
        """Open ``path`` (``-``: standard output) for a run.

        Args:
            path: The ``--output`` argument.
            resume: Append, skipping what the file shows closed.
            force: Overwrite an existing file.
            input_path: The input file's path, which must not be overwritten.

        Raises:
            UsageError: A directory, a missing directory, the input file itself, an
                existing file without ``--resume`` or ``--force``, a file that is not a
                results file, or one that cannot be opened.
        """
        if path == "-":
            if resume:
                raise UsageError("--resume needs --output FILE")
            return cls(1, "standard output", Closed(), owned=False)
        name = printable(path)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            mode = None
        except OSError as error:
            raise UsageError(f"cannot use --output {name}: {error.strerror}") from None
        if mode is not None and stat.S_ISDIR(mode):
            raise UsageError(f"--output {name} is a directory")
        if input_path is not None and mode is not None and os.path.samefile(path, input_path):
            raise UsageError(f"--output {name} is the input file")
        regular = mode is not None and stat.S_ISREG(mode)
        if regular and not (resume or force):
            raise UsageError(f"{name} exists: pass --resume to continue it, or --force")
        try:
            return cls._open(path, name, resume=resume and regular)
        except OSError as error:
            raise UsageError(f"cannot write --output {name}: {error.strerror}") from None

    @classmethod
    def _open(cls, path: str, name: str, *, resume: bool) -> ResultsFile:
        closed = Closed()
        if resume:
            closed = already_closed(path)
            if closed.records == 0 and os.path.getsize(path) > 0 and not closed.torn:
                raise UsageError(f"--output {name} is not a results file (no JSON lines)")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if resume else os.O_TRUNC)
        results = cls(os.open(path, flags, 0o666), name, closed, owned=True)
        if closed.torn:
            try:
                results.write_bytes(b"\n")  # the torn line stays alone, and does not count
            except UsageError:
                results.close()
                raise
        return results

    def write_bytes(self, data: bytes) -> None:
        """Write all of ``data``.

        Raises:
            UsageError: The write failed (a full disk, a closed pipe): no more can be written.
        """
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as error:
            raise UsageError(f"cannot write to {self.name}: {_describe(error)}") from None

    def write(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one JSON line (see ``json_line``).

        Raises:
            UsageError: As :meth:`write_bytes`.
        """
        self.write_bytes(json_line(record))
        self.written += 1

    def close(self) -> None:
        """Close the file (standard output stays open)."""
        if self.owned and self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
