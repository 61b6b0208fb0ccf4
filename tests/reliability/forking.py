"""A client used before ``os.fork()``, then in the child, then in the parent again (a script).

Run by ``test_fork.py`` in a fresh interpreter (one thread: forking a process with
threads is unsafe, and warns from Python 3.12), with a server in another process:

    python -m tests.reliability.forking BACKEND LOOP BASE_URL

``LOOP`` is ``new`` (the child runs a loop of its own, as Celery's pool processes do) or
``inherited`` (the child runs the parent's loop object: ``loop.run_until_complete``).
The server (`serve`, ``python -m tests.reliability.forking serve``) answers OPay's
success for every close and, for ``GET /connections``, which references came over
each connection it accepted; it prints its URL and stops when its stdin closes.

The parent closes ``PARENT-`` references at concurrency 4, forks two children at once
(as a prefork pool does), lets each close ``CHILD1-`` or ``CHILD2-`` ones (and one
``close_payment``), reads each child's report from a pipe (at most ``WAIT`` seconds,
the child killed after), then closes ``AFTER-`` ones. It prints one JSON line: what each
process got (outcomes' error types, and any exception that was not an ``OPayError``)
and the connections the server accepted during the scenario.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import select
import signal
import sys
import time
from typing import Any, Final

from opay_async import OPayClient, OPayError, RetryPolicy
from tests.helpers import MERCHANT_ID, SECRET_KEY, http_head, read_request, success

#: Seconds the parent waits for the child's report, and for the child to end.
WAIT: Final = 30.0
CONCURRENCY: Final = 4
CHILDREN: Final = 2


async def _close(opay: OPayClient, prefix: str, count: int) -> dict[str, Any]:
    """Close ``count`` references; what came out (never raises)."""
    report: dict[str, Any] = {"ok": 0, "errors": [], "escaped": None}
    try:
        outcomes = await opay.close_many(
            [f"{prefix}-{n}" for n in range(count)], country="EG", concurrency=CONCURRENCY
        )
        report["ok"] = sum(outcome.ok for outcome in outcomes)
        report["errors"] = [type(o.error).__name__ for o in outcomes if o.error is not None]
        try:
            await opay.close_payment(reference=f"{prefix}-single", country="EG")
            report["ok"] += 1
        except OPayError as error:
            report["errors"].append(type(error).__name__)
    except Exception as error:
        report["escaped"] = f"{type(error).__name__}: {error}"
    return report


def _child(
    opay: OPayClient, loop: asyncio.AbstractEventLoop | None, writer: int, name: str
) -> None:
    """In the child: close, report through the pipe, and end without returning."""
    code = 0
    try:
        work = _close(opay, name, 12)
        report = asyncio.run(work) if loop is None else loop.run_until_complete(work)
        report["pid"] = os.getpid()
        os.write(writer, json.dumps(report).encode())
    except BaseException as error:
        os.write(writer, json.dumps({"escaped": f"{type(error).__name__}: {error}"}).encode())
        code = 1
    finally:
        os._exit(code)


def _wait_for(pid: int, reader: int) -> dict[str, Any]:
    """The child's report, and its exit status; the child is killed if it takes too long."""
    deadline = time.monotonic() + WAIT
    chunks = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([reader], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(reader, 65536)
        if not chunk:
            break
        chunks += chunk
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    report: dict[str, Any] = json.loads(chunks) if chunks else {"escaped": "no report"}
    report["exit"] = None if status is None else os.waitstatus_to_exitcode(status)
    return report


def _connections(base_url: str) -> list[list[str]]:
    """What the server saw: the references sent over each connection, in accept order."""
    host, port = base_url.removeprefix("http://").split(":")
    stats = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        stats.request("GET", "/connections")
        return json.loads(stats.getresponse().read())  # type: ignore[no-any-return]
    finally:
        stats.close()


def scenario(backend: str, mode: str, base_url: str) -> dict[str, Any]:
    """Parent, child, parent again; what each got and what the server saw."""
    opay = OPayClient(
        MERCHANT_ID,
        SECRET_KEY,
        base_url=base_url,
        backend=backend,  # type: ignore[arg-type]
        max_connections=CONCURRENCY,
        retry=RetryPolicy.none(),
    )
    start = len(_connections(base_url))  # the server's, from earlier scenarios
    loop = asyncio.new_event_loop()
    result: dict[str, Any] = {"parent": loop.run_until_complete(_close(opay, "PARENT", 12))}
    result["connections_before_fork"] = len(_connections(base_url)) - start
    children: list[tuple[int, int]] = []
    for number in range(1, CHILDREN + 1):
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child reports through the pipe)
            os.close(reader)
            _child(opay, None if mode == "new" else loop, writer, f"CHILD{number}")
        os.close(writer)
        children.append((pid, reader))
    result["children"] = []
    for pid, reader in children:
        try:
            result["children"].append(_wait_for(pid, reader))
        finally:
            os.close(reader)
    result["after"] = loop.run_until_complete(_close(opay, "AFTER", 12))
    result["connections"] = _connections(base_url)[start:]
    loop.run_until_complete(opay.aclose())
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    return result


# -- the server, in a process of its own ----------------------------------------------


async def _serve() -> None:
    connections: list[list[str]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen: list[str] | None = None
        try:
            while True:
                head, body = await read_request(reader)
                if head.startswith(b"GET /connections "):
                    payload = json.dumps(connections).encode()
                else:
                    if seen is None:
                        seen = []
                        connections.append(seen)
                    request = json.loads(body)
                    seen.append(request["reference"])
                    payload = json.dumps(success(request)).encode()
                writer.write(http_head(200, Content_Length=str(len(payload))) + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the test closes it
    server.close()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(_serve())
    else:
        print(json.dumps(scenario(*sys.argv[1:4])))
