"""A light HTTP/1.1 keep-alive server answering OPay's close path after a fixed latency.

The benchmark runs it in processes of their own, so its CPU is not counted against the
clients. It parses only what it must (the head's Content-Length, the body's reference),
fills a ready-made answer and sends it with ``loop.call_later``, so it stays far from
being the bottleneck.

    python benchmarks/_server.py --latency 0.05 [--port 0] [--reuse-port]

It binds 127.0.0.1 (``--port 0``: a free port), prints the port on stdout, and serves
until its stdin (a pipe) reaches end of file (the parent closed it, or died), or until
SIGTERM / SIGINT.
With ``--reuse-port`` several processes can listen on one port (``SO_REUSEPORT``), and
the kernel spreads the connections over them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import stat
import sys

PATH = b"/api/v1/international/payment/close"
_REFERENCE = b'"reference":"'
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
_BODY_START = b'{"code":"00000","message":"SUCCESSFUL","data":{"reference":"'
_BODY_END = (
    b'","orderNo":"211018140366538753","country":"EG",'
    b'"amount":{"total":400,"currency":"EGP"},"orderStatus":"CLOSE"}}'
)
_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"
)


def answer(head: bytes, body: bytes) -> bytes:
    """The whole HTTP response to one request (the body's reference echoed back)."""
    if PATH not in head[: head.find(b"\r\n")]:
        return _NOT_FOUND
    start = body.find(_REFERENCE)
    reference = b""
    if start >= 0:
        start += len(_REFERENCE)
        reference = body[start : body.find(b'"', start)]
    payload = b"".join((_BODY_START, reference, _BODY_END))
    return b"".join((_HEAD, str(len(payload)).encode(), b"\r\n\r\n", payload))


class CloseProtocol(asyncio.Protocol):
    """One keep-alive connection: requests parsed as they arrive, answered after a delay."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(buffer[:end])
            lowered = head.lower()
            length = 0
            start = lowered.find(b"\r\ncontent-length:")
            if start >= 0:
                stop = lowered.find(b"\r\n", start + 2)
                length = int(lowered[start + 17 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(buffer) < total:
                return
            reply = answer(head, bytes(buffer[end + 4 : total]))
            del buffer[:total]
            closing = b"\r\nconnection: close" in lowered
            if self.latency > 0:
                self.loop.call_later(self.latency, self.send, reply, closing)
            else:
                self.send(reply, closing)

    def send(self, reply: bytes, closing: bool) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(reply)
            if closing:
                transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def listening_socket(port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def serve(latency: float, port: int, *, reuse_port: bool) -> None:
    loop = asyncio.get_running_loop()
    sock = listening_socket(port, reuse_port=reuse_port)
    server = await loop.create_server(lambda: CloseProtocol(latency), sock=sock)
    stopped = loop.create_future()

    def stop() -> None:
        if not stopped.done():
            stopped.set_result(None)

    def stdin_readable() -> None:
        try:
            data = os.read(sys.stdin.fileno(), 4096)
        except OSError:
            data = b""
        if not data:
            stop()

    # The parent talks through a pipe: its end of file means stop. (Run by hand, with a
    # terminal or /dev/null on stdin, the server runs until SIGINT or SIGTERM.)
    watch_stdin = stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode)
    if watch_stdin:
        loop.add_reader(sys.stdin.fileno(), stdin_readable)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    print(sock.getsockname()[1], flush=True)  # tells the parent the port
    async with server:
        await stopped
    if watch_stdin:
        loop.remove_reader(sys.stdin.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before answering")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--reuse-port", action="store_true", help="set SO_REUSEPORT")
    args = parser.parse_args()
    asyncio.run(serve(args.latency, args.port, reuse_port=args.reuse_port))


if __name__ == "__main__":
    main()
