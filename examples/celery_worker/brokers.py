"""Brokers of our own on loopback, for the example's tests and ``measure``: Redis and RabbitMQ.

- ``redis_server()`` runs ``redis-server`` on a free loopback port, with its data (an
  append-only file, fsynced at every write) in a folder of yours, and can restart it.
- ``rabbitmq_server()`` runs a RabbitMQ node (Debian's ``rabbitmq-server``, 3.10) as this
  user, on free loopback ports, with its own node name, data folder, Erlang cookie and
  ``epmd``: nothing of a system RabbitMQ is read or touched, and two of them side by side
  do not meet. It can be SIGKILLed and started again on the same data.

Each runs in its own process group (``start_new_session``) and is stopped with it, so
nothing it started (Erlang's helpers) outlives it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = [
    "RABBITMQ_SERVER",
    "RabbitMQServer",
    "RedisServer",
    "free_port",
    "rabbitmq_server",
    "redis_server",
    "stop",
]

#: Debian's ``/usr/sbin/rabbitmq-server`` runs the node as the ``rabbitmq`` user (``su``)
#: with the system's data: the script it wraps runs it as whoever calls it, with ours.
RABBITMQ_SERVER: Final = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def stop(process: subprocess.Popen[Any], first: signal.Signals, grace: float) -> None:
    """Send ``first`` to ``process``; after ``grace`` seconds kill its process group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    # Its own group (start_new_session): its children too, whatever is left of them.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RedisServer:
    """A ``redis-server`` of ours: its port, its folder, and the process while it runs."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    def url(self, database: int) -> str:
        """``redis://127.0.0.1:PORT/DATABASE``."""
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 10.0) -> None:
        """Start it (again), on the same port and the same data, and wait until it answers."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise FileNotFoundError("redis-server is not on PATH")
        self.process = subprocess.Popen(  # noqa: S603 (our own arguments)
            [
                *(executable, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")),
                # What docs/bulk.md recommends for a broker: nothing acknowledged is lost.
                *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "redis.log").read_text(errors="replace")
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")
            time.sleep(0.02)

    def answers(self) -> bool:
        """Whether it answers ``PING`` now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        """Stop it: ``SIGTERM`` shuts it down cleanly, ``SIGKILL`` is a crash."""
        if self.process is not None:
            stop(self.process, how, grace=10.0)
            self.process = None


@contextlib.contextmanager
def redis_server(folder: Path) -> Generator[RedisServer, None, None]:
    """Run ``redis-server`` on a free loopback port, its data in ``folder``, until the end."""
    folder.mkdir(parents=True, exist_ok=True)
    server = RedisServer(port=free_port(), folder=folder)
    server.start()
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


#: The node's configuration: what docs/bulk.md recommends, and a test node's quiet.
RABBITMQ_CONF: Final = """\
# A chunk not acknowledged within this many milliseconds is taken from its consumer (its
# channel closed) and delivered again: longer than the longest chunk takes.
consumer_timeout = {consumer_timeout_ms}
# A test node on a shared disk: never block publishers for free space.
disk_free_limit.absolute = 50MB
log.console = false
log.file.level = info
"""


@dataclass
class RabbitMQServer:
    """A RabbitMQ node of ours, its ``epmd``, their ports and folder.

    Attributes:
        folder: Its data (``mnesia``), log, configuration, and the ``HOME`` holding its
            Erlang cookie.
        port: The AMQP port, on 127.0.0.1.
        dist_port: The Erlang distribution port (``rabbitmqctl`` would connect there).
        epmd_port: The port of the ``epmd`` it registers with: ours, not the system's
            4369, so that no ``epmd`` of another user or test is shared or left behind.
        node: Its node name (``opay-XXXXXXXX@localhost``), the same on every restart so
            that it finds its data again.
        consumer_timeout: Seconds before RabbitMQ takes back a chunk never acknowledged.
    """

    folder: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    node: str = field(default_factory=lambda: f"opay-{uuid.uuid4().hex[:8]}@localhost")
    consumer_timeout: float = 1800.0
    process: subprocess.Popen[bytes] | None = None
    epmd: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """The node's log file."""
        return self.folder / "rabbit.log"

    def url(self, vhost: str = "/") -> str:
        """``amqp://guest:guest@127.0.0.1:PORT/VHOST`` (guest: allowed on loopback only)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost.replace('/', '%2F')}"

    def environment(self) -> dict[str, str]:
        """The node's environment: every path and port its own, nothing from ``/etc``."""
        keep = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RABBITMQ_", "ERL_"))
        }
        folder = self.folder
        return {
            **keep,
            "HOME": str(folder),  # its .erlang.cookie
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_CRASH_DUMP": str(folder / "erl_crash.dump"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder),
            "RABBITMQ_LOGS": str(self.log),
            "RABBITMQ_PID_FILE": str(folder / "rabbit.pid"),
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        }

    def _write_config(self) -> None:
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        milliseconds = round(self.consumer_timeout * 1000)
        (folder / "rabbitmq.conf").write_text(
            RABBITMQ_CONF.format(consumer_timeout_ms=milliseconds)
        )
        (folder / "rabbitmq-env.conf").write_text("")
        (folder / "advanced.config").write_text("[].\n")
        (folder / "enabled_plugins").write_text("[].\n")

    def _start_epmd(self, timeout: float) -> None:
        if self.epmd is not None and self.epmd.poll() is None:
            return
        executable = shutil.which("epmd")
        if executable is None:
            raise FileNotFoundError("epmd is not on PATH (it comes with rabbitmq-server)")
        self.epmd = subprocess.Popen(  # noqa: S603 (our own arguments)
            [executable, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for(
            lambda: _listening(self.epmd_port),
            self.epmd,
            timeout,
            f"epmd did not listen on port {self.epmd_port}",
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start the node (again, on the same data) and wait until it speaks AMQP."""
        if not RABBITMQ_SERVER.exists():
            raise FileNotFoundError(
                f"{RABBITMQ_SERVER} is missing (apt-get install rabbitmq-server)"
            )
        self._write_config()
        self._start_epmd(timeout)
        with (self.folder / "rabbit.out").open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 (our own arguments)
                [str(RABBITMQ_SERVER)],
                cwd=self.folder,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_for(self.answers, self.process, timeout, f"RabbitMQ did not start: {self.node}")
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def answers(self) -> bool:
        """Whether it completes an AMQP handshake now (its port opens once it is booted)."""
        import amqp  # noqa: PLC0415 (py-amqp, kombu's dependency: imported only when used)

        connection: Any = amqp.Connection(f"127.0.0.1:{self.port}", connect_timeout=1)
        try:
            connection.connect()
        except (OSError, amqp.exceptions.AMQPError):
            return False
        with contextlib.suppress(OSError, amqp.exceptions.AMQPError):
            connection.close()
        return True

    def declare_quorum_queues(self, *names: str) -> None:
        """Declare these durable quorum queues, as Celery declares its default queue.

        A test that SIGKILLs the node declares its queues first, seconds before: RabbitMQ
        3.10 (Ra 2.2) does not restart a quorum queue declared less than about a second
        before the node was killed (its member's registration was not yet on disk; after
        the restart the queue never has a leader, and every consumer of it is refused
        with ``541 INTERNAL_ERROR``, for good).
        """
        import amqp  # noqa: PLC0415

        with amqp.Connection(f"127.0.0.1:{self.port}", connect_timeout=5) as connection:
            channel: Any = connection.channel()
            for name in names:
                channel.queue_declare(
                    name, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"}
                )

    def purge_queues(self, *names: str) -> None:
        """Remove every message from these queues, those that exist.

        Purged, not deleted and declared again: a queue declared again just before the
        node is SIGKILLed would not restart (see ``declare_quorum_queues``).
        """
        import amqp  # noqa: PLC0415

        with amqp.Connection(f"127.0.0.1:{self.port}", connect_timeout=5) as connection:
            for name in names:
                channel: Any = connection.channel()
                try:
                    channel.queue_purge(name)
                except amqp.exceptions.NotFound:
                    continue  # (the channel is closed by the broker)
                channel.close()

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        """Stop the node: ``SIGTERM`` shuts it down cleanly, ``SIGKILL`` is a crash.

        Its ``epmd`` keeps running (for a restart): ``close()`` stops both.
        """
        if self.process is not None:
            stop(self.process, how, grace=30.0)
            self.process = None

    def close(self) -> None:
        """Stop the node (``SIGKILL``: its data is not kept after) and its ``epmd``."""
        try:
            self.stop(signal.SIGKILL)
        finally:
            if self.epmd is not None:
                stop(self.epmd, signal.SIGTERM, grace=5.0)
                self.epmd = None


@contextlib.contextmanager
def rabbitmq_server(
    folder: Path, *, consumer_timeout: float = 1800.0
) -> Generator[RabbitMQServer, None, None]:
    """Run a RabbitMQ node of our own, its data in ``folder``, until the block ends."""
    server = RabbitMQServer(folder=folder, consumer_timeout=consumer_timeout)
    try:
        server.start()
        yield server
    finally:
        server.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait_for(ready: Any, process: subprocess.Popen[bytes], timeout: float, failure: str) -> None:
    """Wait until ``ready()``; fail if ``process`` ends or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{failure}: it exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{failure} in {timeout:g} s")
        time.sleep(0.05)
