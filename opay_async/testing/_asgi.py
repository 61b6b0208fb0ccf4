"""The simulator as a plain ASGI 3 application (no web framework needed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import httpx

from ._faults import FaultKind

if TYPE_CHECKING:
    from ._fake import FakeOPay

__all__ = ["ASGIApp", "SimulatedDrop", "asgi_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SimulatedDrop(httpx.RemoteProtocolError):
    """Raised mid-answer so the server closes the connection: a dropped connection.

    An ``httpx.RemoteProtocolError``, so that through ``httpx.ASGITransport`` (which
    re-raises what the app raises) a client sees what a dropped connection gives it.
    """


def asgi_app(fake: FakeOPay) -> ASGIApp:
    """An ASGI application answering from ``fake``.

    A dropped connection sends the start of an answer and then raises
    :class:`SimulatedDrop`: a server such as uvicorn closes the connection, so the client
    sees an incomplete answer, and ``httpx.ASGITransport`` raises it to the client as the
    ``httpx.RemoteProtocolError`` it is. A timeout answers nothing until the client
    disconnects (through ``httpx.ASGITransport``: until the client gives up).
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        reply = await fake.respond(scope["method"], scope["path"], headers, b"".join(chunks))
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

    return app
