"""The aiohttp backend: httpx-aiohttp's transport, with aiohttp's failures mapped by what they mean.

httpx-aiohttp re-raises the aiohttp exceptions it has no mapping for (a bad status
line escapes as ``aiohttp.ClientResponseError``) and maps every connection error,
certificate failures included, to ``httpx.ConnectTimeout``. This adapter turns each
aiohttp failure, raised while sending or while reading the body, into the httpx
exception that says what happened, keeping the aiohttp one as ``__cause__`` (where a
TLS error underneath can still be found).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["AiohttpBackend"]

# Most specific first: the first class an error is an instance of decides.
_MEANINGS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # certificate errors included
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # bad status line, huge header
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
)


def _aiohttp_error(error: BaseException) -> BaseException | None:
    """The aiohttp exception ``error`` is, or was raised from (httpx-aiohttp chains it)."""
    for link in (error, error.__cause__):
        if isinstance(link, aiohttp.ClientError):
            return link
    return None


def _translated(error: Exception) -> Exception:
    """The httpx exception ``error`` means, with the aiohttp one as its ``__cause__``."""
    original = _aiohttp_error(error)
    if original is None:
        return error
    meaning = next(meaning for kind, meaning in _MEANINGS if isinstance(original, kind))
    translated = meaning(f"{type(original).__name__}: {original}")
    translated.__cause__ = original
    translated.__suppress_context__ = True
    return translated


class _TranslatedStream(httpx.AsyncByteStream):
    """A response body whose aiohttp failures come out as httpx ones."""

    __slots__ = ("_stream",)

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as error:  # noqa: BLE001 (re-raised, translated)
            raise _translated(error)  # noqa: B904 (its __cause__ is set)

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        except Exception as error:  # noqa: BLE001 (re-raised, translated)
            raise _translated(error)  # noqa: B904 (its __cause__ is set)


class AiohttpBackend(httpx.AsyncBaseTransport):
    """An ``httpx`` transport sending through aiohttp (``AiohttpTransport``), failures mapped."""

    __slots__ = ("_inner",)

    def __init__(self, inner: AiohttpTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through aiohttp."""
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as error:  # noqa: BLE001 (re-raised, translated)
            raise _translated(error)  # noqa: B904 (its __cause__ is set)
        response.stream = _TranslatedStream(cast("httpx.AsyncByteStream", response.stream))
        return response

    async def aclose(self) -> None:
        """Close aiohttp's session."""
        await self._inner.aclose()
