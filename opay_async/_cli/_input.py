r"""Reading the input of ``close-many``: bytes in, numbered rows out, every line checked.

The input is hostile until parsed. It is read in chunks of bytes (never a whole line
of unknown length at once: a line longer than 64 KiB is refused), each line must be
UTF-8 text without NUL bytes (a byte-order mark at the start is dropped, on a file and
on standard input alike), and every value kept must be printable. A problem ends the
command with one line naming the line of the input it is on.

The first line that is not blank decides the format. If it names a column
``reference``, ``orderNo`` (or ``order_no``) or ``country`` (in any case), the input is
CSV with that header; otherwise every non-blank line is one reference.

Examples:
    >>> list(rows_of([b"reference,country\nA1,EG\n\nA2,\n"], name="f.csv", country=False))
    [(1, {'reference': 'A1', 'country': 'EG'}), (2, {'reference': 'A2', 'country': ''})]
    >>> list(rows_of([b"A1\r\n", b"A2"], name="f.txt", country=True))
    [(1, {'reference': 'A1'}), (2, {'reference': 'A2'})]
"""

from __future__ import annotations

import codecs
import csv
import itertools
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Final

import attrs

from ._exit import UsageError
from ._text import printable

__all__ = [
    "HEADER_NAMES",
    "MAX_LINE_BYTES",
    "InputError",
    "Row",
    "Source",
    "chunks",
    "open_source",
    "rows_of",
]

#: Column names that mark a CSV header (compared case-insensitively).
HEADER_NAMES: Final = frozenset({"reference", "orderno", "order_no", "country"})
#: The longest line read, in bytes (its line end included).
MAX_LINE_BYTES: Final = 65_536
#: Bytes asked for at a time; a pipe gives what it holds, at once.
READ_SIZE: Final = 65_536

#: A row of the input: its number (1 for the first data row) and its cells by column.
Row = tuple[int, dict[str, str]]


class InputError(UsageError):
    """The input cannot be used; the message names the line (exit code 2)."""


@attrs.frozen
class Source:
    """The ``FILE`` argument of ``close-many``.

    Attributes:
        name: How messages name it (the path, or ``standard input``), made printable.
        path: The file's path; ``None`` for standard input.
        regular: Whether it is a regular file, which is read twice: first to count and
            check every row before anything is sent, then to close them.
    """

    name: str
    path: str | None
    regular: bool


def open_source(argument: str) -> Source:
    """The input named by ``argument`` (``-`` for standard input), checked to exist.

    Raises:
        UsageError: No such file, or a directory.
    """
    if argument == "-":
        return Source("standard input", None, regular=False)
    name = printable(argument)
    try:
        mode = os.stat(argument).st_mode
    except OSError as error:
        raise UsageError(f"cannot read {name}: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"cannot read {name}: it is a directory")
    return Source(name, argument, regular=stat.S_ISREG(mode))


def chunks(source: Source) -> Iterator[bytes]:
    """The bytes of ``source`` as they come, read with ``os.read`` (no buffer, no lock).

    Raises:
        InputError: The file cannot be opened or read.
    """
    try:
        fd = 0 if source.path is None else os.open(source.path, os.O_RDONLY)
    except OSError as error:
        raise InputError(f"cannot read {source.name}: {error.strerror}") from None
    try:
        while True:
            try:
                chunk = os.read(fd, READ_SIZE)
            except OSError as error:
                raise InputError(f"cannot read {source.name}: {error.strerror}") from None
            if not chunk:
                return
            yield chunk
    finally:
        if source.path is not None:
            os.close(fd)


def _decode(data: bytes, number: int, name: str) -> str:
    if number == 1:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise InputError(f"{name} is UTF-16 text: save it as UTF-8")
        data = data.removeprefix(codecs.BOM_UTF8)
    if b"\0" in data:
        raise InputError(f"{name} line {number}: a NUL byte; this is binary data, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{name} line {number}: not UTF-8 text (byte 0x{data[error.start]:02x} at "
            f"byte {error.start + 1} of the line); save the file as UTF-8"
        ) from None


def _lines(parts: Iterable[bytes], name: str) -> Iterator[tuple[int, str]]:
    """Numbered lines of text, line ends kept, none longer than ``MAX_LINE_BYTES``."""
    number = 0
    pending = bytearray()
    for chunk in parts:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            pending += chunk[start : end + 1]
            start = end + 1
            number += 1
            if len(pending) > MAX_LINE_BYTES:
                break
            yield number, _decode(bytes(pending), number, name)
            pending.clear()
        else:
            pending += chunk[start:]
        if len(pending) > MAX_LINE_BYTES:
            number += 0 if pending.endswith(b"\n") else 1
            raise InputError(
                f"{name} line {number} is longer than {MAX_LINE_BYTES} bytes: "
                "is this the list of payments?"
            )
    if pending:
        yield number + 1, _decode(bytes(pending), number + 1, name)


def _cell(value: str, number: int, name: str) -> str:
    value = value.strip()
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        hint = " (old Mac line ends? use \\n or \\r\\n)" if bad == "\r" else ""
        raise InputError(
            f"{name} line {number}: an unprintable character (U+{ord(bad):04X}) in "
            f"'{printable(value, limit=60)}'{hint}"
        )
    return value


def _column(cell: str) -> str | None:
    key = cell.strip().lower()
    if key not in HEADER_NAMES:
        return None
    return "order_no" if key == "orderno" else key


def _header(line: str, number: int, name: str, country: bool) -> list[str | None]:
    cells = next(csv.reader([line]), list[str]())
    columns = [_column(cell) for cell in cells]
    for column, count in Counter(c for c in columns if c is not None).items():
        if count > 1:
            spellings = sorted({c.strip() for c in cells if _column(c) == column})
            same = f" ({' and '.join(spellings)} are the same column)" if len(spellings) > 1 else ""
            raise InputError(
                f"{name} line {number}: the header names the {column} column twice{same}; "
                "which one is meant?"
            )
    if "reference" not in columns and "order_no" not in columns:
        raise InputError(f"{name} line {number}: the header names neither reference nor orderNo")
    if "country" not in columns and not country:
        raise InputError(
            f"{name} line {number}: the header names no country column: pass --country"
        )
    return columns


def _csv_problem(error: csv.Error) -> str:
    message = str(error)
    if message.startswith("field larger than field limit"):
        return f"a field longer than {csv.field_size_limit()} characters (an unclosed quote?)"
    if message.startswith("new-line character seen in unquoted field"):
        return "a carriage return inside a line (old Mac line ends? use \\n or \\r\\n)"
    return f"not valid CSV ({message})"


def _csv_rows(
    header_line: tuple[int, str], lines: Iterator[tuple[int, str]], name: str, country: bool
) -> Iterator[Row]:
    header = _header(header_line[1], header_line[0], name, country)
    wanted = [(i, column) for i, column in enumerate(header) if column is not None]
    position = header_line[0]

    def texts() -> Iterator[str]:
        nonlocal position
        for position, text in lines:  # noqa: B007 (read by the reader's caller)
            yield text

    reader = csv.reader(texts(), strict=True)
    numbers = itertools.count(1)
    while True:
        start = position + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise InputError(f"{name} line {start}: {_csv_problem(error)}") from None
        if not any(cell.strip() for cell in cells):
            continue
        yield (
            next(numbers),
            {
                column: _cell(cells[i], start, name) if i < len(cells) else ""
                for i, column in wanted
            },
        )


def _plain_rows(
    first: tuple[int, str], lines: Iterator[tuple[int, str]], name: str, country: bool
) -> Iterator[Row]:
    if not country:
        raise InputError(
            f"{name} is a list of references (no CSV header naming reference, orderNo or "
            "country): pass --country"
        )
    numbers = itertools.count(1)
    for number, text in itertools.chain([first], lines):
        value = _cell(text, number, name)
        if not value:
            continue
        if "," in value:
            raise InputError(
                f"{name} line {number}: a comma in a reference; a CSV file needs a header "
                "line naming reference, orderNo or country"
            )
        yield next(numbers), {"reference": value}


def rows_of(parts: Iterable[bytes], *, name: str, country: bool) -> Iterator[Row]:
    """Numbered rows of the input whose bytes are ``parts``, read lazily.

    Args:
        parts: The input's bytes, in pieces of any size.
        name: How messages name the input.
        country: Whether ``--country`` was given (else every row needs a country).

    Raises:
        InputError: A line that is too long, not UTF-8 or has a NUL byte; an ambiguous
            or unusable header; an unprintable value; CSV that cannot be parsed.
    """
    lines = _lines(parts, name)
    for number, text in lines:
        if text.strip():
            first = (number, text)
            break
    else:
        return
    cells = next(csv.reader([first[1]]), list[str]())
    if any(_column(cell) for cell in cells):
        yield from _csv_rows(first, lines, name, country)
    else:
        yield from _plain_rows(first, lines, name, country)
