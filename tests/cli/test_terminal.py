"""On a real terminal (a pseudo-terminal): the bar never mixes with results, and ends full."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
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
