"""Serving the simulator over real HTTP with uvicorn (the ``simulator`` extra)."""

from __future__ import annotations

import asyncio
import logging
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


def _base_url(server: Any, host: str) -> str:
    port = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@asynccontextmanager
async def serving(app: ASGIApp, host: str, port: int) -> AsyncGenerator[str, None]:
    """Run ``app`` on ``host:port`` while the block runs; yields the base URL."""
    server = _server(app, host, port)
    task = asyncio.create_task(server._serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start (e.g. the port is taken)
                raise OPayValidationError("serve", f"could not serve on {host}:{port}")
            await asyncio.sleep(0.01)
        yield _base_url(server, host)
    finally:
        server.should_exit = True
        server.force_exit = True  # do not wait for clients still connected
        await task


async def serve_until_stopped(
    app: ASGIApp, host: str, port: int, on_ready: Callable[[str], None]
) -> None:
    """Run ``app`` until the process gets SIGINT or SIGTERM; ``on_ready`` gets the URL."""
    server = _server(app, host, port)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no event)
        await asyncio.sleep(0.01)
    if server.started:
        on_ready(_base_url(server, host))
    await task
