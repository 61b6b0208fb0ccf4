"""A 3xx is an answer, not a detour: the signed close is never re-sent to its ``Location``.

Following a redirect would send the signed POST (its ``MerchantId`` and signature) to
whatever host the ``Location`` names, and report that host's answer as OPay's. The SDK's
own client does not follow redirects, on either backend: the call fails as an
``OPayHTTPError`` and the other server sees nothing.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from opay_async import CLOSE_PATH, OPayClient, OPayHTTPError, RetryPolicy
from tests.helpers import MERCHANT_ID, SECRET_KEY, RawServer, answering, http_head, read_request

BACKENDS = ["httpx2", "aiohttp"]
CLOSED = json.dumps(
    {
        "code": "00000",
        "message": "SUCCESSFUL",
        "data": {"reference": "R-1", "country": "EG", "orderStatus": "CLOSE"},
    }
).encode()


def redirecting(status: int, location: str) -> object:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(http_head(status, Location=location, Content_Length="0"))
        await writer.drain()

    return handler


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_another_server_is_not_followed(status: int, backend: str) -> None:
    elsewhere = RawServer(answering(200, CLOSED))  # would answer CLOSE, if it were asked
    async with elsewhere.running() as other_url:
        origin = RawServer(redirecting(status, other_url + CLOSE_PATH))  # type: ignore[arg-type]
        async with origin.running() as base_url:
            started = time.monotonic()
            async with (
                asyncio.timeout(20),
                OPayClient(
                    MERCHANT_ID,
                    SECRET_KEY,
                    base_url=base_url,
                    backend=backend,  # type: ignore[arg-type]
                    retry=RetryPolicy(attempts=3, wait_initial=0, wait_max=0),
                    trust_env=False,
                ) as opay,
            ):
                with pytest.raises(OPayHTTPError) as caught:
                    await opay.close_payment(reference="R-1", country="EG")
    assert caught.value.status_code == status
    assert caught.value.retryable is False
    assert origin.connections == 1  # asked once: a redirect is not retried either
    assert elsewhere.connections == 0  # nothing re-sent to the Location
    assert time.monotonic() - started < 20
