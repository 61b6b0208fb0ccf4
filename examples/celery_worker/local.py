"""The example on one machine, with no server to install: for its test and ``measure``.

- ``simulator()`` runs ``python -m opay_async simulate --port 0`` (OPay over HTTP on a
  free loopback port; needs ``opay-async[simulator]``), reads the URL from its banner and
  stops it afterwards; its admin API shows what it did.
- ``workers()`` runs ``celery worker --pool prefork`` in its own process group, with the
  filesystem broker and the file result backend in a folder of yours, waits until every
  pool process has its client, and stops them all afterwards (warm shutdown, then
  ``SIGKILL`` for what is left), whatever happened meanwhile.
- ``use_broker()`` points this process's Celery app (the producer) at the broker and
  result backend of an environment: the same folder, or a Redis or RabbitMQ of
  ``brokers``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx2

from opay_async.testing import DEFAULT_SECRET_KEY

from .brokers import stop
from .settings import celery_config, make_local_folders

__all__ = [
    "ROOT",
    "Simulator",
    "Workers",
    "simulator",
    "use_broker",
    "workers",
]

#: The checkout's root: workers run there, to import ``examples.celery_worker``.
ROOT: Final = Path(__file__).resolve().parents[2]
_URL: Final = re.compile(r"https?://[^\s()]+")
_READY: Final = "OPay client ready in process"
_NOT_CREATED: Final = "OPay client not created"


@dataclass
class Simulator:
    """A running ``opay-async simulate``, and its admin API."""

    base_url: str
    merchant_id: str
    pid: int
    output: tuple[str, ...] = ()  # what it printed before its URL

    @property
    def environment(self) -> dict[str, str]:
        """The ``OPAY_*`` variables of a client of it (its key is public and made up)."""
        return {
            "OPAY_MERCHANT_ID": self.merchant_id,
            "OPAY_SECRET_KEY": DEFAULT_SECRET_KEY,
            "OPAY_BASE_URL": self.base_url,
        }

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Call ``/_simulator{path}``; its JSON answer (an error for a 4xx or 5xx)."""
        reply = httpx2.request(method, f"{self.base_url}/_simulator{path}", json=body, timeout=30)
        reply.raise_for_status()
        return reply.json()

    def set_latency(self, seconds: float) -> None:
        """Answer every close after ``seconds``."""
        self.admin("POST", "/latency", {"seconds": seconds})


@contextlib.contextmanager
def simulator(*, timeout: float = 30.0) -> Generator[Simulator, None, None]:
    """Run the simulator on a free loopback port until the block ends."""
    command = [sys.executable, "-m", "opay_async", "simulate", "--host", "127.0.0.1"]
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:  # read it all, so the simulator never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        output: list[str] = []
        deadline = time.monotonic() + timeout
        while (found := _URL.search("".join(output))) is None:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise TimeoutError(f"the simulator printed no URL in {timeout:g} s") from None
            if line is None:
                raise RuntimeError(f"the simulator stopped: {''.join(output)}")
            output.append(line)
        base_url = found.group().rstrip("/.,;")
        state = httpx2.get(f"{base_url}/_simulator/", timeout=timeout).json()
        yield Simulator(
            base_url=base_url,
            merchant_id=state["merchant_id"],
            pid=process.pid,
            output=tuple(output),
        )
    finally:
        stop(process, signal.SIGINT, grace=10.0)
        reader.join(5.0)  # the pipe is at its end: the simulator and its group are gone
        assert process.stdout is not None
        process.stdout.close()


@dataclass
class Workers:
    """A running ``celery worker`` and the log it writes."""

    process: subprocess.Popen[bytes]
    log: Path
    processes: int

    def log_text(self) -> str:
        """Everything it logged so far."""
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float) -> None:
        """Wait until each pool process has made its client (or say why not)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if _NOT_CREATED in text:
                raise RuntimeError(f"a worker process has no client:\n{text}")
            if text.count(_READY) >= self.processes:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker stopped ({self.process.returncode}):\n{text}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker was not ready in {timeout:g} s:\n{text}")
            time.sleep(0.05)

    def children(self) -> list[int]:
        """The process ids of its pool processes now (Linux ``/proc``)."""
        found: list[int] = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(stat.parent.name))
        return found

    def processes_that_worked(self) -> dict[str, int]:
        """Chunks done per pool process (``ForkPoolWorker-N``), read from the log."""
        done: dict[str, int] = {}
        for name in re.findall(r"/(ForkPoolWorker-\d+)\] closed \d+ of a chunk", self.log_text()):
            done[name] = done.get(name, 0) + 1
        return done


@contextlib.contextmanager
def workers(
    environment: Mapping[str, str],
    *,
    processes: int,
    log: Path,
    timeout: float = 60.0,
) -> Generator[Workers, None, None]:
    """Run one prefork worker of ``processes`` pool processes until the block ends.

    Args:
        environment: Added to this process's environment: ``OPAY_*`` and ``CELERY_*``.
        processes: The pool size (``--concurrency``).
        log: The file its output goes to.
        timeout: Seconds to wait for every pool process to be ready.
    """
    command = [
        *(sys.executable, "-m", "celery", "-A", "examples.celery_worker.app", "worker"),
        *("--pool", "prefork", "--concurrency", str(processes), "--loglevel", "INFO"),
        *("--hostname", f"opay-{uuid.uuid4().hex[:8]}@%h"),
        # No broadcast chatter between workers: one worker, and a filesystem broker.
        *("--without-mingle", "--without-gossip", "--without-heartbeat"),
    ]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command,
            cwd=ROOT,
            env={**os.environ, **environment, "PYTHONPATH": path},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Workers(process=process, log=log, processes=processes)
    try:
        running.wait_ready(timeout)
        yield running
    finally:
        stop(process, signal.SIGTERM, grace=15.0)  # warm shutdown: clients closed


def use_broker(environment: Mapping[str, str]) -> None:
    """Point this process's Celery app at the broker and backend ``environment`` names.

    Call it before the app sends anything: Celery keeps its connections once made.
    """
    from .app import app  # noqa: PLC0415 (configured from the environment on import)

    app.conf.update(celery_config(environment))
    make_local_folders(environment)
