"""Serving the simulator over real HTTP with uvicorn (the ``simulator`` extra)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

from .._errors import OPayValidationError
from .._install import install_hint
from ._asgi import SimulatedDrop

if TYPE_CHECKING:
    from ._asgi import ASGIApp

__all__ = ["serving"]

_UVICORN_LOG: Final = logging.getLogger("uvicorn.error")


def _not_a_simulated_drop(record: logging.LogRecord) -> bool:
    """Keep uvicorn's log to real errors: a simulated drop is logged as an app exception."""
    return not (record.exc_info and isinstance(record.exc_info[1], SimulatedDrop))


def _server(app: ASGIApp, host: str, port: int) -> Any:
    try:
        import uvicorn  # noqa: PLC0415 (optional extra)
    except ImportError:
        raise OPayValidationError(
            "serve",
            "serving the simulator over HTTP needs uvicorn, the 'simulator' extra: "
            + install_hint("simulator"),
        ) from None
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    return uvicorn.Server(config)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket of our own, so a port that is taken fails here, cleanly.

    Made with ``IPPROTO_TCP`` named: asyncio sets ``TCP_NODELAY`` on the connections it
    accepts only from a socket that says it is TCP. Without it each answer's body waits
    for the client's delayed ACK, about 40 ms a request on Linux.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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
        # _serve: serve() without taking over the process's signal handlers (the
        # application's, or pytest's); serve() where a uvicorn lacks it.
        serve = getattr(server, "_serve", server.serve)
        task = asyncio.create_task(serve(sockets=[sock]))
        _UVICORN_LOG.addFilter(_not_a_simulated_drop)
        try:
            while not server.started and not task.done():  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(0.005)
            if task.done():  # it could not start: say why
                task.result()
                raise OPayValidationError("serve", f"uvicorn did not start on {host}:{port}")
            yield _base_url(sock, host)
        finally:
            server.should_exit = True
            server.force_exit = True  # do not wait for clients still connected
            try:
                await task
            finally:
                _UVICORN_LOG.removeFilter(_not_a_simulated_drop)
