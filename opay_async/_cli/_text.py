"""Text the command shows or writes: terminal control characters escaped, JSON lines safe.

Everything the command prints can come from a hostile place: a reference read from the
input, an error message or an order status from the server, a file name. A terminal obeys
the control characters in what it is sent (an escape sequence can move the cursor, recolour
or retitle the window, and some terminals answer queries), so nothing reaches the terminal
raw: :func:`printable` escapes every character that is not printable, and
:func:`json_line` does the same inside JSON strings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Final

__all__ = ["PrintableFormatter", "json_line", "printable"]

#: Characters shown of a message or a value before it is cut.
DEFAULT_LIMIT: Final = 300


def _escape(character: str) -> str:
    code = ord(character)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str, *, limit: int = DEFAULT_LIMIT) -> str:
    r"""``text`` with every character that is not printable escaped, cut to ``limit``.

    Escapes follow Python's spelling (``\x1b``, ``\u202e``), so what was there can be
    told from what is shown. A cut text ends with ``...``.

    Args:
        text: What to show.
        limit: The most characters shown.

    Examples:
        >>> printable("SHOP-1\x1b[2J")
        'SHOP-1\\x1b[2J'
        >>> printable("x" * 10, limit=6)
        'xxx...'
    """
    if not text.isprintable():
        text = "".join(c if c.isprintable() else _escape(c) for c in text)
    if len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return text


def _json_escape(character: str) -> str:
    code = ord(character)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_line(record: Mapping[str, object]) -> bytes:
    r"""``record`` as one line of compact JSON in UTF-8, ending in a newline.

    Non-ASCII text stays readable, but every character that is not printable (control
    characters, bidirectional overrides, line separators, lone surrogates from a
    hostile answer) is written as a ``\u`` escape, so the line is safe on a terminal,
    splits only at its end, and always encodes.

    Examples:
        >>> json_line({"reference": "café\x9b2J", "ok": True})
        b'{"reference":"caf\xc3\xa9\\u009b2J","ok":true}\n'
    """
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if not text.isprintable():
        # Outside strings JSON is printable ASCII, so each of these is inside a string,
        # where a \u escape means the same character.
        text = "".join(c if c.isprintable() else _json_escape(c) for c in text)
    return (text + "\n").encode("utf-8")


class PrintableFormatter(logging.Formatter):
    r"""A log formatter whose lines (``-v``) show control characters escaped.

    A log message can quote what a server sent (an HTTP reason phrase, say); it reaches
    the terminal as :func:`printable` shows it. Tracebacks keep their lines.

    Examples:
        >>> record = logging.makeLogRecord({"msg": "reason %s", "args": ("OK\x1b[2J",)})
        >>> PrintableFormatter("%(message)s").format(record)
        'reason OK\\x1b[2J'
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The record's line, made printable."""
        return printable(super().formatMessage(record), limit=10_000)
