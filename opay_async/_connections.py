"""The client's own connection pool: its backend, its TLS trust, and proxies from the environment.

Used only when the caller gives no ``http_client`` and no ``transport``. With
``trust_env=True`` (the default) it honours, as httpx does: ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` (see ``_proxies``), and ``SSL_CERT_FILE`` /
``SSL_CERT_DIR`` for the certificate authorities to trust (certifi's bundle otherwise).
Certificates are always verified: nothing here turns that off.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import Final, Literal

import httpx

from ._errors import OPayValidationError
from ._pool import ShardedTransport
from ._proxies import environment_routes

__all__ = ["CONNECT_TIMEOUT", "Backend", "own_http_client", "tls_context"]

Backend = Literal["httpx", "aiohttp"]
"""The library under the client's own pool: ``"httpx"`` (the default) or ``"aiohttp"``."""
#: Seconds to open a connection.
CONNECT_TIMEOUT: Final = 5.0

TransportFactory = Callable[[httpx.Proxy | None], httpx.AsyncBaseTransport]


def tls_context(*, trust_env: bool) -> ssl.SSLContext:
    """A verifying TLS context: from ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` if set, else certifi.

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
    return httpx.create_ssl_context(trust_env=False)


def _transports(backend: object, max_connections: int, context: ssl.SSLContext) -> TransportFactory:
    """A maker of transports of ``backend``, direct or through a proxy."""
    if backend == "httpx":
        return lambda proxy: ShardedTransport(
            max_connections=max_connections, verify=context, proxy=proxy
        )
    if backend == "aiohttp":
        try:
            from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 (optional extra)

            from ._aiohttp import AiohttpBackend  # noqa: PLC0415 (imports aiohttp)
        except ImportError:
            raise OPayValidationError(
                "backend",
                "'aiohttp' needs the aiohttp extra: pip install 'opay-async[aiohttp]'",
            ) from None
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        return lambda proxy: AiohttpBackend(
            AiohttpTransport(verify=context, limits=limits, proxy=proxy)
        )
    raise OPayValidationError("backend", f"must be 'httpx' or 'aiohttp', got {backend!r}")


def own_http_client(
    *,
    backend: object,
    max_connections: int,
    trust_env: bool,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: httpx.Headers | None = None,
) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` a client owns (and closes).

    Args:
        backend: ``"httpx"`` or ``"aiohttp"``.
        max_connections: Connections the pool may open (per proxy route).
        trust_env: Read proxies and CA locations from the environment.
        transport: A transport to send everything through instead (tests, simulators);
            then neither ``backend`` nor the environment applies.
        headers: Headers every request carries.

    Raises:
        OPayValidationError: A bad backend, proxy variable or CA location.
    """
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    if transport is None:
        make = _transports(backend, max_connections, tls_context(trust_env=trust_env))
        routes = environment_routes() if trust_env else {}
        transport = make(None)
        mounts = {
            pattern: None if url is None else make(httpx.Proxy(url))
            for pattern, url in routes.items()
        }
    return httpx.AsyncClient(
        transport=transport,
        mounts=mounts,
        headers=headers,
        follow_redirects=False,
        trust_env=False,  # the environment was read above, once
    )
