"""The aiohttp backend: an httpx2 transport that sends through aiohttp.

The SDK's own: httpx-aiohttp's distribution still requires legacy httpx. Each aiohttp
failure, raised while sending or while reading the body, becomes the httpx2 exception
that says what happened (a bad status line is a ``RemoteProtocolError``, a certificate
that does not verify a ``ConnectError``), keeping the aiohttp one as ``__cause__``,
where a TLS error underneath can still be found. Bodies are handed over as they arrive
on the wire (``auto_decompress=False``): the SDK decodes them itself, bounded.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
import httpx2
import yarl

__all__ = ["AiohttpTransport", "translated"]

#: Bytes handed over per chunk of a body.
_CHUNK: Final = 16 * 1024

# Most specific first: the first class an error is an instance of decides.
_MEANINGS: tuple[tuple[type[BaseException], type[httpx2.TransportError]], ...] = (
    (aiohttp.ClientProxyConnectionError, httpx2.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx2.ProxyError),
    (aiohttp.ConnectionTimeoutError, httpx2.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx2.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx2.ConnectError),  # certificate errors included
    (aiohttp.ServerDisconnectedError, httpx2.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx2.RemoteProtocolError),  # bad status line, huge header
    (aiohttp.ClientPayloadError, httpx2.ReadError),
    (aiohttp.InvalidURL, httpx2.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx2.UnsupportedProtocol),
    (aiohttp.ClientConnectionError, httpx2.ReadError),
    (aiohttp.ClientError, httpx2.TransportError),
)


def translated(error: Exception) -> Exception:
    """The httpx2 exception an aiohttp ``error`` means, with ``error`` as its ``__cause__``.

    Anything else is returned as it is.
    """
    if not isinstance(error, aiohttp.ClientError):
        return error
    meaning = next(meaning for kind, meaning in _MEANINGS if isinstance(error, kind))
    result = meaning(f"{type(error).__name__}: {error}")
    result.__cause__ = error
    result.__suppress_context__ = True
    return result


class _Body(httpx2.AsyncByteStream):
    """An aiohttp response body, its failures coming out as httpx2 ones."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except Exception as error:  # noqa: BLE001 (re-raised, translated)
            raise translated(error)  # noqa: B904 (its __cause__ is set)

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport over one aiohttp session (made at the first request, in its loop).

    Args:
        verify: The TLS context certificates are verified with.
        max_connections: Connections the session may open.
        proxy: Send every request through this proxy.
    """

    __slots__ = ("_max_connections", "_proxy", "_session", "_timeouts", "_urls", "_verify")

    def __init__(
        self,
        *,
        verify: ssl.SSLContext,
        max_connections: int,
        proxy: httpx2.Proxy | None = None,
    ) -> None:
        self._verify = verify
        self._max_connections = max_connections
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, yarl.URL] = {}  # a close has one URL per country
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._verify, limit=self._max_connections, limit_per_host=0
        )
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # decoded by the SDK, within its bounds
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def _url(self, url: httpx2.URL) -> yarl.URL:
        text = str(url)
        parsed = self._urls.get(text)
        if parsed is None:
            if len(self._urls) > 64:
                self._urls.clear()
            parsed = self._urls[text] = yarl.URL(text, encoded=True)
        return parsed

    def _timeout(self, request: httpx2.Request) -> aiohttp.ClientTimeout:
        given = request.extensions.get("timeout", {})
        key = (given.get("connect"), given.get("read"), given.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, sock_connect=connect, sock_read=read, connect=pool
            )
        return timeout

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` through aiohttp; the body streams as it arrives."""
        if self._session is None:
            self._session = self._new_session()
        proxy = self._proxy
        content = await request.aread()
        try:
            response = await self._session.request(
                request.method,
                self._url(request.url),
                headers=request.headers.multi_items(),
                data=content or None,
                allow_redirects=False,
                timeout=self._timeout(request),
                proxy=None if proxy is None else str(proxy.url),
                proxy_auth=None
                if proxy is None or proxy.auth is None
                else aiohttp.BasicAuth(*proxy.auth),
                proxy_headers=None if proxy is None else proxy.headers.multi_items(),
            )
        except Exception as error:  # noqa: BLE001 (re-raised, translated)
            raise translated(error)  # noqa: B904 (its __cause__ is set)
        return httpx2.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        """Close the session and its connections."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
