"""The aiohttp backend says what each aiohttp failure means, in httpx2's terms."""

from __future__ import annotations

import aiohttp
import httpx2
import pytest

from opay_async._http._aiohttp import translated


@pytest.mark.parametrize(
    ("raised", "meaning"),
    [
        (aiohttp.ServerDisconnectedError(), httpx2.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut short"), httpx2.ReadError),
        (aiohttp.ConnectionTimeoutError(), httpx2.ConnectTimeout),
        (aiohttp.SocketTimeoutError(), httpx2.ReadTimeout),
        (aiohttp.InvalidURL("ftp://x"), httpx2.UnsupportedProtocol),
        (aiohttp.ClientOSError(104, "reset"), httpx2.ReadError),
        (aiohttp.ClientError("other"), httpx2.TransportError),
    ],
)
def test_each_aiohttp_failure_gets_its_meaning(raised: Exception, meaning: type) -> None:
    result = translated(raised)
    assert type(result) is meaning
    assert result.__cause__ is raised  # where a TLS error underneath is still found


def test_what_is_not_aiohttps_passes_through() -> None:
    error = ValueError("a bug")
    assert translated(error) is error
