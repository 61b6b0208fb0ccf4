"""The client's own connection pool: its backend, its TLS trust, and proxies from the environment.

Used only when the caller gives no ``http_client`` and no ``transport``. Certificates are
verified against the operating system's trust store (httpx2's default), or, with
``trust_env=True`` (the default), against ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set.
Proxies come from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` (see
``_proxies``). Nothing here turns certificate verification off.

Everything that can be wrong (the backend, a proxy variable, a CA location) is checked
when the client is made; the pool itself is made in the event loop that first sends
(see ``_loops``).
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import warnings
from collections.abc import Callable
from typing import Final, Literal

import httpx2

from .._errors import OPayValidationError
from .._install import install_hint
from ._loops import Route
from ._pool import PoolRoute, httpx2_maker, own_capacities
from ._proxies import environment_routes
from ._shards import Maker, ShardPool

__all__ = [
    "CONNECT_TIMEOUT",
    "Backend",
    "check_backend",
    "own_client_maker",
    "tls_context",
]

Backend = Literal["httpx2", "aiohttp"]
"""The library under the client's own pool: ``"httpx2"`` (the default) or ``"aiohttp"``."""
#: Seconds to open a connection.
CONNECT_TIMEOUT: Final = 5.0


def tls_context(*, trust_env: bool) -> ssl.SSLContext:
    """A verifying TLS context: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` if set, else the system's.

    Raises:
        OPayValidationError: The variable names something that holds no usable CA
            certificates (the message names the variable and the path).
    """
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        path = os.environ.get(variable, "").strip() if trust_env else ""
        if not path:
            continue
        try:
            if variable == "SSL_CERT_FILE":
                return ssl.create_default_context(cafile=path)
            return ssl.create_default_context(capath=path)
        except OSError as error:  # ssl.SSLError is an OSError too
            reason = error.strerror or str(error)
            raise OPayValidationError(
                variable, f"cannot load CA certificates from {path!r}: {reason}"
            ) from None
    return httpx2.create_ssl_context(trust_env=False)


def check_backend(backend: object) -> Backend:
    """``backend`` if it names a backend this installation has.

    ``"httpx"`` (the name before httpx2) still means ``"httpx2"``, with a warning.

    Raises:
        OPayValidationError: An unknown backend, or ``"aiohttp"`` without the extra.
    """
    if backend == "httpx":
        warnings.warn(
            "backend='httpx' is now named backend='httpx2' (the SDK sends with httpx2)",
            DeprecationWarning,
            stacklevel=4,
        )
        return "httpx2"
    if backend == "httpx2":
        return "httpx2"
    if backend == "aiohttp":
        if importlib.util.find_spec("aiohttp") is None:
            raise OPayValidationError(
                "backend",
                f"'aiohttp' needs the aiohttp extra: {install_hint('aiohttp')}",
            )
        return "aiohttp"
    raise OPayValidationError("backend", f"must be 'httpx2' or 'aiohttp', got {backend!r}")


def _maker(backend: Backend, context: ssl.SSLContext) -> Callable[[httpx2.Proxy | None], Maker]:
    """For a proxy (or ``None``: direct), a maker of one shard's transport of ``backend``."""
    if backend == "aiohttp":
        from ._aiohttp import AiohttpTransport  # noqa: PLC0415 (imports the optional aiohttp)

        def aiohttp_maker(proxy: httpx2.Proxy | None) -> Maker:
            return lambda capacity: AiohttpTransport(
                verify=context, max_connections=capacity, proxy=proxy
            )

        return aiohttp_maker
    return lambda proxy: httpx2_maker(context, proxy)


def own_client_maker(
    *,
    backend: object,
    max_connections: int,
    trust_env: bool,
    headers: httpx2.Headers,
) -> Callable[[], Route]:
    """A maker of the ``httpx2.AsyncClient`` a client owns, one per event loop.

    With no proxy routes, requests may skip the client and go to its transport at once
    (`Exchange` does): the client adds nothing a close needs (no redirects are followed,
    no cookies kept, the headers are the same).

    Args:
        backend: ``"httpx2"`` or ``"aiohttp"``.
        max_connections: Connections the pool may open, and requests it may have in
            flight, in all (every route together; per event loop).
        trust_env: Read proxies and CA locations from the environment (now, once).
        headers: Headers every request carries.

    Raises:
        OPayValidationError: A bad backend, proxy variable or CA location.
    """
    maker = _maker(check_backend(backend), tls_context(trust_env=trust_env))
    capacities = own_capacities(max_connections)
    routes = environment_routes() if trust_env else {}
    proxies = {url: httpx2.Proxy(url) for url in routes.values() if url is not None}

    def client() -> Route:  # the transport is None where proxy routes decide
        pool = ShardPool(capacities)  # every route of this loop's client shares it
        transport = PoolRoute(pool, None, maker(None))
        through = {url: PoolRoute(pool, url, maker(proxy)) for url, proxy in proxies.items()}
        http = httpx2.AsyncClient(
            transport=transport,
            mounts={
                pattern: None if url is None else through[url] for pattern, url in routes.items()
            },
            headers=headers,
            follow_redirects=False,
            trust_env=False,  # the environment was read above, once
        )
        return http, None if routes else transport

    return client
