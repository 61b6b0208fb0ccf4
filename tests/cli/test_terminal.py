"""On a real terminal (a pseudo-terminal): the bar never mixes with results, and ends full."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import COMMAND, EXAMPLE, clean_env

pty = pytest.importorskip("pty")
termios = pytest.importorskip("termios")
fcntl = pytest.importorskip("fcntl")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_terminal(*args: str, results_to_terminal: bool, timeout: float = 60) -> tuple[int, str]:
    """Run the command with stderr (and stdout, if asked) on a 120x30 terminal.

    Returns the exit code and everything the terminal received, escape sequences removed.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x1e\x00\x78\x00\x00\x00\x00\x00")  # 30 x 120
    env = clean_env(TERM="xterm-256color", COLUMNS="120", LINES="30")
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CI"):
        env.pop(name, None)
    process = subprocess.Popen(
        [*COMMAND, *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if results_to_terminal else subprocess.DEVNULL,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not data:
                    break
                received += data
            elif process.poll() is not None and not select.select([master], [], [], 0.2)[0]:
                break
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return code, ANSI.sub("", received.decode(errors="replace"))


def test_results_on_the_terminal_get_no_progress_bar() -> None:
    code, screen = on_terminal(
        "close-many", str(EXAMPLE), "--simulate", "--concurrency", "20", results_to_terminal=True
    )
    assert code == 1
    assert "closing" not in screen  # no bar was drawn
    lines = [line.strip("\r") for line in screen.split("\n")]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == 300  # each one whole, on a line of its own
    assert "close-many summary" in screen


def test_the_bar_ends_on_the_final_counts(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    code, screen = on_terminal(
        "close-many",
        str(EXAMPLE),
        "--simulate",
        "--concurrency",
        "20",
        "--output",
        str(output),
        results_to_terminal=False,
    )
    assert code == 1
    frames = [frame for frame in re.split(r"[\r\n]+", screen) if "closing" in frame]
    assert frames, screen
    last = frames[-1]
    assert "300/300" in last, last
    assert "closed 295" in last, last
    assert "not closed 5" in last, last
    assert "close-many summary" in screen


CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


class Screen:
    """Just enough of a terminal to tell what a person sees: text, \\r, \\n, wrapping at
    the last column, cursor up and erase in line (what rich's live display sends)."""

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self.lines: list[list[str]] = [[]]
        self.row = self.col = 0
        self.wrap_pending = False

    def _line(self) -> list[str]:
        while len(self.lines) <= self.row:
            self.lines.append([])
        return self.lines[self.row]

    def _put(self, character: str) -> None:
        if self.wrap_pending:
            self.row, self.col, self.wrap_pending = self.row + 1, 0, False
        line = self._line()
        line.extend(" " * (self.col + 1 - len(line)))
        line[self.col] = character
        if self.col == self.columns - 1:
            self.wrap_pending = True  # as xterm: the next character wraps
        else:
            self.col += 1

    def _control(self, parameters: str, command: str) -> None:
        count = int(parameters) if parameters.isdigit() else 0
        if command == "A":
            self.row, self.wrap_pending = max(self.row - max(count, 1), 0), False
        elif command == "K":
            line = self._line()
            if count == 2:
                line.clear()
            elif count == 0:
                del line[self.col :]

    def feed(self, text: str) -> None:
        position = 0
        for match in CSI.finditer(text):
            self._text(text[position : match.start()])
            self._control(match.group(1), match.group(2))
            position = match.end()
        self._text(text[position:])

    def _text(self, text: str) -> None:
        for character in text:
            if character == "\r":
                self.col, self.wrap_pending = 0, False
            elif character == "\n":
                self.row, self.wrap_pending = self.row + 1, False
                self._line()
            elif character.isprintable():
                self._put(character)

    def text(self) -> list[str]:
        return ["".join(line).rstrip() for line in self.lines]


def ctrl_c_on_terminal(*args: str, columns: int, after: bytes) -> tuple[int, Screen]:
    """Run the command on its own terminal (its controlling one), type Ctrl-C there once
    ``after`` has been drawn, and return the exit code and the screen as a person sees it."""
    master, slave = pty.openpty()
    size = bytes([30, 0, columns, 0, 0, 0, 0, 0])  # rows, columns (little-endian shorts)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    attributes = termios.tcgetattr(slave)
    attributes[3] |= termios.ECHO | termios.ECHOCTL | termios.ISIG  # a terminal's defaults
    termios.tcsetattr(slave, termios.TCSANOW, attributes)
    env = clean_env(TERM="xterm-256color", COLUMNS=str(columns), LINES="30")
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CI"):
        env.pop(name, None)

    # A new session's leader takes the terminal on its standard input as its controlling
    # one, then becomes the command: Ctrl-C typed there reaches it as SIGINT.
    take_the_terminal = (
        "import fcntl, os, sys, termios\n"
        "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", take_the_terminal, *COMMAND[1:], *args],
        stdin=slave,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    received = bytearray()
    typed = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not data:
                    break
                received += data
                if not typed and received.count(after) >= 3:  # some frames drawn
                    os.write(master, b"\x03")  # Ctrl-C, typed on the terminal
                    typed = True
            elif process.poll() is not None and not select.select([master], [], [], 0.2)[0]:
                break
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    screen = Screen(columns)
    screen.feed(received.decode(errors="replace"))
    return code, screen


def test_ctrl_c_leaves_one_frame_of_the_bar(tmp_path: Path) -> None:
    """The terminal echoes ``^C`` where the cursor is: at the end of the bar. A bar as
    wide as the terminal then wraps, and its last frame was drawn twice."""
    code, screen = ctrl_c_on_terminal(
        "close-many",
        str(EXAMPLE),
        "--simulate",
        "--concurrency",
        "1",
        "--output",
        str(tmp_path / "out.jsonl"),
        columns=100,
        after=b"closing",
    )
    lines = screen.text()
    assert code == 130, "\n".join(lines)
    bars = [line for line in lines if line.startswith("closing")]
    assert len(bars) == 1, "\n".join(lines)
    assert lines[lines.index(bars[0]) + 1] == "close-many interrupted", "\n".join(lines)
    assert all(len(line) < 100 for line in bars)
