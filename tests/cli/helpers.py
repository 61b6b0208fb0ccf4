"""Running the ``opay-async`` command as a subprocess, bounded in time, and what it needs."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from opay_async.testing import FakeOPay

ROOT = Path(__file__).parent.parent.parent
EXAMPLE = ROOT / "examples" / "stale_orders.csv"
COMMAND = [sys.executable, "-m", "opay_async"]
#: Seconds any one run of the command may take in these tests.
RUN_TIMEOUT = 60
#: Bytes that must never reach a terminal raw (ESC, BEL, CSI as one code point, NUL).
CONTROL = ("\x1b", "\x07", "\x9b", "\x00")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any ``OPAY_*`` variable, warnings as errors, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPAY_")}
    env.update(extra)
    env["PYTHONWARNINGS"] = "error"
    return env


@attrs.frozen
class Ran:
    """A finished run: exit code, output, and how long it took."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | str | None = None,
    timeout: float = RUN_TIMEOUT,
    command: list[str] | None = None,
) -> Ran:
    """Run the command to its end (killed after ``timeout`` seconds, failing the test)."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    started = time.monotonic()
    done = subprocess.run(
        [*(command or COMMAND), *args],
        capture_output=True,
        input=data,
        env=env or clean_env(),
        timeout=timeout,
        check=False,
    )
    return Ran(
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
        time.monotonic() - started,
    )


def assert_usage_error(ran: Ran, *needles: str) -> str:
    """Exit 2, one line on stderr (no traceback), naming each of ``needles``; the line."""
    assert ran.returncode == 2, (ran.returncode, ran.stderr)
    assert "Traceback" not in ran.stderr
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran.stderr
    assert lines[0].startswith("opay-async"), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a results file, each a complete JSON object."""
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


@contextlib.contextmanager
def spawned(
    *args: str, timeout: float = RUN_TIMEOUT, command: list[str] | None = None, **options: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """The command started in the background; killed (and reaped) if still running after.

    A watchdog kills it after ``timeout`` seconds, so a test blocked reading its output
    gets an end of file instead of hanging.
    """
    options.setdefault("env", clean_env())
    process = subprocess.Popen([*(command or COMMAND), *args], **options)
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    try:
        yield process
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):  # a pipe the command no longer reads
                    stream.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: StubServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        self.server.requests.append(body)
        answer = json.dumps(self.server.answer(body)).encode()
        self.send_response(200, self.server.reason)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        """Quiet."""


class StubServer(http.server.ThreadingHTTPServer):
    """An HTTP server on loopback answering every close with ``answer(body)``; counts them."""

    daemon_threads = True

    def __init__(self, answer: Any, reason: str = "OK") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.reason = reason
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def stub_server(answer: Any, reason: str = "OK") -> Iterator[StubServer]:
    """A ``StubServer`` running in a thread while the block runs."""
    server = StubServer(answer, reason)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def env_for(url: str, **extra: str) -> dict[str, str]:
    """An environment sending to ``url`` with the simulator's default credentials."""
    fake = FakeOPay()
    return clean_env(
        OPAY_MERCHANT_ID=fake.merchant_id,
        OPAY_SECRET_KEY=fake.secret_key,
        OPAY_BASE_URL=url,
        **extra,
    )
