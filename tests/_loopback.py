"""A tiny HTTP/1.1 keep-alive server on 127.0.0.1 for tests that need real sockets.

It answers OPay's close path with a success for any reference, except references
starting with ``hang`` (never answered until the server stops) and ``slow`` (answered
after ``slow_seconds``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class LoopbackOPay:
    def __init__(self, slow_seconds: float = 0.05) -> None:
        self.slow_seconds = slow_seconds
        self.received = 0
        self.in_flight = 0
        self.open_connections = 0
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def handler_tasks(self) -> set[asyncio.Task[None]]:
        """The server's own connection tasks (they live in the test's event loop)."""
        return set(self._handlers)

    async def _answer(self, body: bytes) -> bytes:
        request = json.loads(body)
        reference = request.get("reference", "")
        if reference.startswith("hang"):
            await asyncio.Event().wait()
        if reference.startswith("slow"):
            await asyncio.sleep(self.slow_seconds)
        answer = {
            "code": "00000",
            "message": "SUCCESSFUL",
            "data": {
                "reference": reference,
                "orderNo": "211018140366538753",
                "country": request.get("country"),
                "amount": {"total": 400, "currency": "EGP"},
                "orderStatus": "CLOSE",
            },
        }
        return json.dumps(answer).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.open_connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.received += 1
                self.in_flight += 1
                try:
                    payload = await self._answer(body)
                finally:
                    self.in_flight -= 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.open_connections -= 1
            self._handlers.discard(task)
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()
