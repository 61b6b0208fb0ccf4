"""A responder as a plain ASGI 3 application (no web framework needed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import httpx2

from ._faults import FaultKind
from ._reply import Reply, Responder

__all__ = ["MAX_BODY", "ASGIApp", "SimulatedDrop", "asgi_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI application: ``await app(scope, receive, send)``."""

#: The largest request body the app reads (HTTP 413 above it, before it is answered).
MAX_BODY: Final = 1024 * 1024

_TOO_LARGE: Final = Reply(status=413, body=b"Request Entity Too Large", content_type="text/plain")


class SimulatedDrop(httpx2.RemoteProtocolError):
    """Raised mid-answer so the server closes the connection: a dropped connection.

    An ``httpx2.RemoteProtocolError``, so that through ``httpx2.ASGITransport`` (which
    re-raises what the app raises) a client sees what a dropped connection gives it.
    """


class _Disconnected(Exception):
    """The client disconnected while its request body was being read."""


def asgi_app(respond: Responder, *, max_body: int = MAX_BODY) -> ASGIApp:
    """An ASGI application answering each HTTP request with ``respond``.

    A body over ``max_body`` bytes answers HTTP 413 without reaching ``respond``. A
    dropped connection sends the start of an answer and then raises
    ``SimulatedDrop``: a server such as uvicorn closes
    the connection, so the client sees an incomplete answer, and ``httpx2.ASGITransport``
    raises it to the client as the ``httpx2.RemoteProtocolError`` it is. A timeout answers
    nothing until the client disconnects (through ``httpx2.ASGITransport``: until the
    client gives up).

    Args:
        respond: The responder, e.g. ``FakeOPay.respond``.
        max_body: The largest request body read, in bytes.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            body = await _body(receive, max_body)
        except _Disconnected:  # the client left before sending the whole body
            return
        if body is None:
            await _send(send, _TOO_LARGE)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        reply = await respond(scope["method"], scope["path"], headers, body)
        if reply.fault is FaultKind.TIMEOUT:
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        if reply.fault is FaultKind.DROP:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"code":', "more_body": True})
            raise SimulatedDrop("simulated dropped connection")
        await _send(send, reply)

    return app


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or ``None`` once it is over ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _send(send: Send, reply: Reply) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [
                (b"content-type", reply.content_type.encode()),
                (b"content-length", str(len(reply.body)).encode()),
                *((name.encode(), value.encode()) for name, value in reply.headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": reply.body})
