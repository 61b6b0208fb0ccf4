"""Ctrl-C and producers that keep their pipe open: prompt rows, a prompt end, valid output."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.helpers import read_jsonl, spawned

#: Seconds from SIGINT to the command's exit, at most (the promise is one second; this
#: machine is slow and shared).
SIGINT_BOUND = 1.5


def wait_for_records(path: Path, count: int, timeout: float = 20.0) -> float:
    """Seconds until ``path`` holds ``count`` complete lines (fails after ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError(f"{path} never held {count} records")


def test_rows_on_an_open_pipe_are_closed_at_once_and_sigint_ends_it(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    with spawned(
        "close-many",
        "-",
        "--simulate",
        "--output",
        str(output),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        process.stdin.write(b"reference,country\n")
        process.stdin.flush()
        time.sleep(0.5)  # the command is up, waiting for rows
        process.stdin.write(b"".join(f"P-{n},EG\n".encode() for n in range(5)))
        process.stdin.flush()  # the producer keeps the pipe open from here on
        prompt = wait_for_records(output, 5)
        assert prompt < 5.0  # not held back for a batch, nor until the pipe closes
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        took = time.monotonic() - interrupted
        assert process.stderr is not None
        stderr = process.stderr.read().decode()
    print(f"SIGINT to exit on an open pipe: {took:.3f} s; rows closed {prompt:.3f} s after")
    assert process.returncode == 130, stderr
    assert took < SIGINT_BOUND, f"{took:.2f} s from SIGINT to exit"
    assert "interrupted: 5 rows written" in stderr
    assert "Traceback" not in stderr
    assert "Fatal Python error" not in stderr
    records = read_jsonl(output)
    assert sorted(r["reference"] for r in records) == [f"P-{n}" for n in range(5)]
    assert all(r["ok"] for r in records)


def test_sigint_while_waiting_for_the_first_line(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    with spawned(
        "close-many",
        "-",
        "--simulate",
        "--country",
        "EG",
        "--output",
        str(output),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        time.sleep(1.0)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        took = time.monotonic() - interrupted
        assert process.stderr is not None
        stderr = process.stderr.read().decode()
    assert process.returncode == 130, stderr
    assert took < SIGINT_BOUND
    assert "interrupted: 0 rows written" in stderr
    assert output.read_bytes() == b""


def test_a_producer_that_ends_lets_the_run_end(tmp_path: Path) -> None:
    """The usual case, slowly: rows trickle in, then the producer closes the pipe."""
    output = tmp_path / "out.jsonl"
    with spawned(
        "close-many",
        "-",
        "--simulate",
        "--country",
        "NG",
        "--output",
        str(output),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        for n in range(3):
            process.stdin.write(f"T-{n}\n".encode())
            process.stdin.flush()
            wait_for_records(output, n + 1)
        process.stdin.close()
        process.wait(timeout=20)
    assert process.returncode == 0
    assert [json.loads(line)["reference"] for line in output.read_text().splitlines()] == [
        "T-0",
        "T-1",
        "T-2",
    ]


def test_sigterm_stops_close_many_as_ctrl_c_does(tmp_path: Path) -> None:
    """``kill``, ``docker stop`` and systemd send SIGTERM: same clean end as Ctrl-C."""
    output = tmp_path / "out.jsonl"
    with spawned(
        "close-many",
        "-",
        "--simulate",
        "--country",
        "EG",
        "--output",
        str(output),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        process.stdin.write(b"S-1\nS-2\n")
        process.stdin.flush()
        wait_for_records(output, 2)
        terminated = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        took = time.monotonic() - terminated
        assert process.stderr is not None
        stderr = process.stderr.read().decode()
    assert process.returncode == 130, stderr
    assert took < SIGINT_BOUND
    assert "close-many interrupted" in stderr
    assert "interrupted: 2 rows written" in stderr
    assert len(read_jsonl(output)) == 2


def test_sigterm_stops_the_simulator_cleanly() -> None:
    with spawned(
        "simulate", "--port", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(b"OPay simulator listening on http://")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        assert b"Traceback" not in process.stderr.read()
