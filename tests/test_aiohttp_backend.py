"""The aiohttp backend says what each aiohttp failure means, in httpx's terms."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from opay_async._aiohttp import _translated, _TranslatedStream


@pytest.mark.parametrize(
    ("raised", "meaning"),
    [
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut short"), httpx.ReadError),
        (aiohttp.ConnectionTimeoutError(), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError(), httpx.ReadTimeout),
        (aiohttp.InvalidURL("ftp://x"), httpx.UnsupportedProtocol),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ClientError("other"), httpx.TransportError),
    ],
)
def test_each_aiohttp_failure_gets_its_meaning(raised: Exception, meaning: type) -> None:
    translated = _translated(raised)
    assert type(translated) is meaning
    assert translated.__cause__ is raised  # where a TLS error underneath is still found
    # httpx-aiohttp raises its own (often wrong) mapping from the aiohttp error: undone.
    wrapped = httpx.ConnectTimeout("mislabelled")
    wrapped.__cause__ = raised
    assert type(_translated(wrapped)) is meaning


def test_what_is_not_aiohttps_passes_through() -> None:
    error = ValueError("a bug")
    assert _translated(error) is error


async def test_a_failure_while_closing_the_body_is_translated() -> None:
    class Breaking(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"{"
            raise aiohttp.ClientPayloadError("connection lost")

        async def aclose(self) -> None:
            raise aiohttp.ServerDisconnectedError()

    stream = _TranslatedStream(Breaking())
    with pytest.raises(httpx.ReadError):
        async for _ in stream:
            pass
    with pytest.raises(httpx.RemoteProtocolError):
        await stream.aclose()
