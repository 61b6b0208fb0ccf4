"""Helpers shared by the tests: scripted and counting OPay doubles, a loopback server, signing.

Every double here answers like OPay's Cancel Payment API; each test picks the one whose
shape it needs:

- ``ScriptedOPay``: a ``MockTransport`` handler answering from a script (then successes);
- ``CountingOPay``: an async ``MockTransport`` handler that counts attempts and concurrency;
- ``LoopbackOPay``: a real HTTP/1.1 server on 127.0.0.1, for tests that need sockets;
- ``body_of`` / ``signed`` / ``raw_post``: hand-signed raw requests for the simulator's tests;
- ``RawServer``: a TCP server whose handler answers whatever bytes a test needs;
- ``hx``: the httpx family under test (httpx2, or legacy httpx in its own session);
- ``UVLOOP`` / ``CHILD_LOOP``: whether the tests run on uvloop (its own session), and the
  lines that put a child process on the same loops;
- ``run`` / ``spawned`` / ``stub_server``: the ``opay-async`` command as a subprocess,
  bounded in time, and a stub OPay over HTTP for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http.server
import importlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx2

from opay_async import CLOSE_PATH, OPayClient, RetryPolicy
from opay_async.testing import FakeOPay

#: The httpx family the SDK-facing tests send through: httpx2, or legacy httpx in the
#: ``tests-legacy-httpx`` nox session (``OPAY_TESTS_HTTPX=legacy``), where every
#: ``MockTransport`` and client a test gives the SDK is legacy httpx's.
LEGACY_HTTPX = os.environ.get("OPAY_TESTS_HTTPX", "") == "legacy"
hx: Any = importlib.import_module("httpx") if LEGACY_HTTPX else httpx2

#: Whether the tests run on uvloop's event loops (the ``tests_uvloop`` nox session,
#: ``OPAY_TESTS_LOOP=uvloop``: see tests/conftest.py) rather than asyncio's own.
UVLOOP = os.environ.get("OPAY_TESTS_LOOP", "") == "uvloop"
#: What a child process a test starts runs first, to use the same event loops as the test.
CHILD_LOOP = """
import os
if os.environ.get("OPAY_TESTS_LOOP") == "uvloop":
    import asyncio, uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
"""

MERCHANT_ID = "256612345678901"
SECRET_KEY = "OPAYPRV_test_secret_0187828"


async def own_pool(opay: OPayClient) -> httpx2.AsyncClient:
    """The running loop's ``AsyncClient`` of ``opay``'s own pool (made if needed)."""
    return (await opay._sender.exchange.connections.get())[0]  # type: ignore[no-any-return]


def success(body: dict[str, Any], status: str = "CLOSE") -> dict[str, Any]:
    """OPay's documented success answer for the request ``body``."""
    return {
        "code": "00000",
        "message": "SUCCESSFUL",
        "data": {
            "reference": body.get("reference", "56215641"),
            "orderNo": body.get("orderNo", "211018140366538753"),
            "country": body["country"],
            "amount": {"total": 400, "currency": "EGP"},
            "orderStatus": status,
        },
    }


Answer = hx.Response | Callable[[hx.Request], hx.Response]


class ScriptedOPay:
    """A MockTransport handler answering from a script, keeping every request it got.

    ``answers`` are used in order; when they run out, every request gets a success.
    An answer is a response, a callable taking the request, or an exception to raise.
    """

    def __init__(self, *answers: Answer | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[hx.Request] = []

    def __call__(self, request: hx.Request) -> hx.Response:
        self.requests.append(request)
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer if isinstance(answer, hx.Response) else answer(request)
        return hx.Response(200, json=success(json.loads(request.content)))

    @property
    def sent(self) -> int:
        return len(self.requests)

    def client(self, **options: Any) -> OPayClient:
        return OPayClient(MERCHANT_ID, SECRET_KEY, transport=hx.MockTransport(self), **options)


# The independent reading of an answer's identity the fuzz properties check the SDK against.
def names_only(data: dict[str, Any], reference: str, country: str) -> bool:
    """Whether ``data`` names no payment but the one of ``reference`` in ``country``.

    Each identifier is either absent or exactly what was asked: the reference as the
    same string (or an integer with the same digits), the country as the same two letters.
    """
    answered = data.get("reference", reference)
    same_reference = answered == reference or (
        type(answered) is int and answered >= 0 and str(answered) == reference
    )
    answered_country = data.get("country", country)
    same_country = (
        isinstance(answered_country, str)
        and answered_country.isascii()
        and answered_country.upper() == country
    )
    return same_reference and same_country


def failure(code: str, message: str = "failed") -> hx.Response:
    return hx.Response(200, json={"code": code, "message": message})


class CountingOPay:
    """An async MockTransport handler that counts attempts and what is in flight."""

    def __init__(self, delay: float = 0.0, jitter: bool = False) -> None:
        self.delay = delay
        self.jitter = jitter
        self.in_flight = 0
        self.max_in_flight = 0
        self.attempts: dict[str, int] = {}
        self.sent = 0

    def answer(self, body: dict[str, str], attempt: int) -> hx.Response:
        reference = body.get("reference", "")
        if reference.startswith("missing"):
            return failure("02006", "payment not found.")
        if reference.startswith("flaky") and attempt <= 2:
            return failure("50003", "service not available, please try again")
        if reference.startswith("down"):
            return failure("50003", "service not available, please try again")
        return hx.Response(200, json=success(body))

    async def __call__(self, request: hx.Request) -> hx.Response:
        body = json.loads(request.content)
        key = body.get("reference") or body.get("orderNo")
        self.attempts[key] = self.attempts.get(key, 0) + 1
        self.sent += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            delay = random.uniform(0, self.delay) if self.jitter else self.delay
            await asyncio.sleep(delay)
            return self.answer(body, self.attempts[key])
        finally:
            self.in_flight -= 1


class LoopbackOPay:
    """OPay on a real socket (a ``RawServer``): keep-alive, every close answered CLOSE.

    References starting with ``hang`` are never answered (until the server stops), and
    those starting with ``slow`` after ``slow_seconds``.
    """

    def __init__(self, slow_seconds: float = 0.05) -> None:
        self.slow_seconds = slow_seconds
        self.received = 0
        self.in_flight = 0
        self._server = RawServer(self._serve)

    @property
    def handler_tasks(self) -> set[asyncio.Task[Any]]:
        """The server's own connection tasks (they live in the test's event loop)."""
        return self._server.tasks

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return len(self._server.tasks)

    def running(self) -> Any:
        """Serve while the block runs; yields the base URL."""
        return self._server.running()

    async def _answer(self, body: bytes) -> bytes:
        request = json.loads(body)
        reference = request.get("reference", "")
        if reference.startswith("hang"):
            await asyncio.Event().wait()
        if reference.startswith("slow"):
            await asyncio.sleep(self.slow_seconds)
        return json.dumps(success(request)).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, body = await read_request(reader)
            self.received += 1
            self.in_flight += 1
            try:
                payload = await self._answer(body)
            finally:
                self.in_flight -= 1
            writer.write(http_head(200, Content_Length=str(len(payload))) + payload)
            await writer.drain()


URL = "https://sandboxapi.opaycheckout.com" + CLOSE_PATH
NO_RETRY = RetryPolicy(attempts=1)


def body_of(**fields: Any) -> bytes:
    """A compact, sorted JSON body, as the SDK sends."""
    return json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()


def signed(body: bytes, key: str, merchant: str) -> dict[str, str]:
    signature = hmac.new(key.encode(), body, hashlib.sha512).hexdigest()
    return {
        "Authorization": f"Bearer {signature}",
        "MerchantId": merchant,
        "Content-Type": "application/json",
    }


def signed_for(fake: FakeOPay, body: bytes) -> dict[str, str]:
    return signed(body, fake.secret_key, fake.merchant_id)


async def raw_post(
    fake: FakeOPay, body: bytes, headers: dict[str, str] | None = None
) -> httpx2.Response:
    """POST ``body`` to the fake's close path, signed right unless ``headers`` are given."""
    async with httpx2.AsyncClient(transport=fake.transport) as http:
        return await http.post(
            URL, content=body, headers=signed_for(fake, body) if headers is None else headers
        )


# -- a hostile server: raw bytes on a socket ------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Read one HTTP/1.1 request (head and Content-Length body) from ``reader``."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


def http_head(status: int = 200, **headers: str) -> bytes:
    """A response head; header names are given with ``_`` for ``-``."""
    lines = [f"HTTP/1.1 {status} X"] + [
        f"{name.replace('_', '-')}: {value}" for name, value in headers.items()
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class RawServer:
    """A TCP server on 127.0.0.1 (a free port) that lets ``handler`` answer each connection.

    ``handler(reader, writer)`` may do anything an attacker's server would: answer
    garbage, stream forever, reset the connection. Its connections are closed and its
    tasks cancelled when the block ends. ``requests`` counts connections accepted.
    """

    def __init__(self, handler: Handler, *, tls: Any = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        """The tasks serving the connections open now."""
        return set(self._tasks)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls else "http"
        try:
            yield f"{scheme}://127.0.0.1:{port}"
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()


def answering(status: int, body: bytes, **headers: str) -> Handler:
    """A handler that reads the request and answers ``body`` with ``status``, once."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        headers.setdefault("Content_Type", "application/json")
        headers.setdefault("Content_Length", str(len(body)))
        writer.write(http_head(status, **headers) + body)
        await writer.drain()

    return handler


# -- the opay-async command, run as a subprocess ------------------------------------

ROOT = Path(__file__).parent.parent
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
    protocol_version = "HTTP/1.1"  # connections kept alive, as OPay's are

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        self.server.requests.append(body)
        self.server.headers.append({name.lower(): value for name, value in self.headers.items()})
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
    request_queue_size = 128  # socketserver's 5 resets connections opened at once

    def __init__(self, answer: Any, reason: str = "OK") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.reason = reason
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # each request's, names in lower case

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


# -- a key rotated mid-run ------------------------------------------------------------------


class KeyRotatedMidRun(FakeOPay):
    """The simulator, its key rotated after ``closes`` closes signed with the old key.

    It checks signatures with ``new_key`` (its ``secret_key``). Until ``closes`` requests
    signed with ``old_key`` have been answered, such a request is re-signed with the new
    key and handled as usual; from then on it goes in as it came, and the simulator
    itself answers ``02000``, as OPay does once a merchant's key is rotated. A client
    signing with the new key is served throughout. ``after_first_refusal`` counts the
    requests that arrived after the first ``02000`` went out.
    """

    def __init__(self, closes: int, old_key: str, new_key: str, **options: Any) -> None:
        super().__init__(secret_key=new_key, **options)
        self.closes_left = closes
        self.old_key = old_key
        self.refused = 0
        self.after_first_refusal = 0

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> Any:
        if path.startswith("/_simulator"):
            return super().handle(method, path, headers, body)
        if self.refused:
            self.after_first_refusal += 1
        old = signed(body, self.old_key, self.merchant_id)["Authorization"]
        if self.closes_left > 0 and headers.get("authorization") == old:
            self.closes_left -= 1
            headers = {name.lower(): value for name, value in headers.items()}
            headers["authorization"] = signed_for(self, body)["Authorization"]
        reply = super().handle(method, path, headers, body)
        if reply.code == "02000":
            self.refused += 1
        return reply


@contextlib.contextmanager
def served_in_a_thread(fake: FakeOPay) -> Iterator[str]:
    """``fake`` over HTTP on loopback, from a thread of its own, while the block runs."""
    ready: list[str] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = loop.create_future()

    async def serve() -> None:
        async with fake.serve() as url:
            ready.append(url)
            started.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    try:
        assert started.wait(timeout=30), "the simulator did not start"
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(timeout=30)
        loop.close()
