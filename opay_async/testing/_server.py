"""Serving the simulator over real HTTP with uvicorn (the ``simulator`` extra)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from .._errors import OPayValidationError

if TYPE_CHECKING:
    from ._asgi import ASGIApp

__all__ = ["serve_until_stopped", "serving"]


def _server(app: ASGIApp, host: str, port: int) -> Any:
    try:
        import uvicorn  # noqa: PLC0415 (optional extra)
    except ImportError:
        raise OPayValidationError(
            "serve", "serving the simulator needs uvicorn: pip install 'opay-async[simulator]'"
        ) from None
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    # Simulated dropped connections are application errors in uvicorn's eyes: keep its
    # log to what matters (it cannot bind, and the like).
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    return uvicorn.Server(config)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket of our own, so a port that is taken fails here, cleanly."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OPayValidationError(
            "port", f"cannot listen on {host}:{port}: {error.strerror}"
        ) from None
    return sock


def _base_url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@asynccontextmanager
async def serving(app: ASGIApp, host: str, port: int) -> AsyncGenerator[str, None]:
    """Run ``app`` on ``host:port`` while the block runs; yields the base URL."""
    server = _server(app, host, port)
    with _bind(host, port) as sock:
        # _serve: serve() without taking over the process's signal handlers.
        task = asyncio.create_task(server._serve(sockets=[sock]))  # pyright: ignore[reportPrivateUsage]
        try:
            while not server.started and not task.done():  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(0.01)
            yield _base_url(sock, host)
        finally:
            server.should_exit = True
            server.force_exit = True  # do not wait for clients still connected
            await task


async def serve_until_stopped(
    app: ASGIApp, host: str, port: int, on_ready: Callable[[str], None]
) -> None:
    """Run ``app`` until the process gets SIGINT or SIGTERM; ``on_ready`` gets the URL."""
    server = _server(app, host, port)
    with _bind(host, port) as sock:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.01)
        if server.started:
            on_ready(_base_url(sock, host))
        await task
