"""The JSON-lines results file of ``close-many``: one line per input row, written as it comes.

Each record is one ``os.write`` of a whole line (no buffer to flush at exit, nothing half
written by Python), so a run that is killed loses nothing it wrote. A run that was killed
mid-write (or met a full disk) can leave a last line without its newline: that partial
record was never finished, so ``--resume`` drops it (the file is cut back to its last
complete line, as a database drops a torn log tail) and does its row again. Which rows
``--resume`` sends again is ``_resume``'s rule.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import OPayValidationError
from ._exit import UsageError
from ._resume import RECORD_START, Earlier, read_earlier
from ._text import json_line, printable

if TYPE_CHECKING:
    from .. import CloseOutcome

__all__ = ["ResultsFile", "outcome_record"]


def outcome_record(
    outcome: CloseOutcome,
    row: int,
    *,
    said: Mapping[str, str] | None = None,
    supersedes: int | None = None,
) -> dict[str, Any]:
    """The JSON object written for ``outcome``: its ``to_record()``, with its input ``row``.

    ``row`` (1 for the first data row) takes the place of the outcome's ``index`` in the
    bulk run, which means nothing to whoever reads the file. A row that was not valid
    keeps what it ``said`` (its reference, order number and country as written, the
    country from ``--country`` when it named none). ``supersedes`` is the line number of
    the earlier record this one replaces (``--resume``), else ``None``.

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
    if said is not None and isinstance(outcome.error, OPayValidationError):
        for key in ("reference", "order_no", "country"):
            record[key] = said.get(key) or None
    record["supersedes"] = supersedes
    return record


def _describe(error: OSError) -> str:
    if error.errno == errno.EPIPE:
        return "the reader closed it (broken pipe)"
    return error.strerror or str(error)


class ResultsFile:
    """Where ``close-many`` writes its records: a file, or standard output.

    Attributes:
        name: How messages name it.
        earlier: What the file showed before this run (``--resume``), else nothing.
        written: Records written by this run.
        dropped_tail: Whether ``--resume`` dropped a torn last line.
        is_terminal: Whether the records go to a terminal.
        owned: Whether it is a file this run opened (not standard output).
    """

    def __init__(self, fd: int, name: str, earlier: Earlier, *, owned: bool) -> None:
        self._fd = fd
        self.owned = owned
        self.name = name
        self.earlier = earlier
        self.written = 0
        self.dropped_tail = False
        self.is_terminal = os.isatty(fd)

    @classmethod
    def open(cls, path: str, *, resume: bool, force: bool, input_path: str | None) -> ResultsFile:
        """Open ``path`` (``-``: standard output) for a run.

        Args:
            path: The ``--output`` argument.
            resume: Append, skipping what the file shows done (see ``_resume``).
            force: Overwrite an existing file.
            input_path: The input file's path, which must not be overwritten.

        Raises:
            UsageError: A directory, a missing directory, the input file itself, an
                existing file without ``--resume`` or ``--force``, a file that is not a
                results file (or ends with a partial line that is not a record), or one
                that cannot be opened.
        """
        if path == "-":
            if resume:
                raise UsageError("--resume needs --output FILE")
            return cls(1, "standard output", Earlier(), owned=False)
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
        earlier = Earlier()
        if resume:
            earlier = read_earlier(path)
            ours = earlier.tail is None or earlier.tail.startswith(RECORD_START)
            if earlier.records == 0 and (earlier.lines > 0 or not ours):
                raise UsageError(f"--output {name} is not a results file (no JSON lines)")
            if not ours:
                raise UsageError(
                    f"--output {name} ends with a partial line that is not a record: "
                    "remove it, or choose another file"
                )
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if resume else os.O_TRUNC)
        results = cls(os.open(path, flags, 0o666), name, earlier, owned=True)
        if earlier.torn:
            try:  # the torn record was never finished: drop it, and do its row again
                os.ftruncate(results._fd, earlier.end)
            except OSError as error:
                results.close()
                raise UsageError(
                    f"cannot drop the partial last line of {name}: {error.strerror}"
                ) from None
            results.dropped_tail = True
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
