"""The answer reader's two limits, each reached: raw bytes read, and bytes decoded at the end.

- A short gzip answer followed by megabytes of junk: the decoder ignores what follows the
  end of its stream, so only the count of raw bytes stops the read. It must fail fast as
  too large, not read the junk and answer the (valid) gzip part as a success.
- Two gzip layers whose outer layer shrinks a 1.5 MB inner stream to 2 KB: the outer
  decoder is capped per call and keeps the rest for its flush, so the body crosses the
  limit only after the flush; the check after it must refuse it.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import tracemalloc

import pytest

from opay_async import OPayClient, OPayResponseError, RetryPolicy
from tests.helpers import MERCHANT_ID, SECRET_KEY, RawServer, http_head, read_request

BACKENDS = ["httpx2", "aiohttp"]
LIMIT_MESSAGE = "larger than 1,048,576 bytes"
CLOSED = json.dumps(
    {
        "code": "00000",
        "message": "SUCCESSFUL",
        "data": {"reference": "R-1", "country": "EG", "orderStatus": "CLOSE"},
    }
).encode()


def serving(head: bytes, body: bytes, *, chunk: int = 64 * 1024) -> object:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(head)
        for start in range(0, len(body), chunk):
            writer.write(body[start : start + chunk])
            await writer.drain()

    return handler


async def close_against(handler: object, backend: str) -> tuple[BaseException | object, float]:
    server = RawServer(handler)  # type: ignore[arg-type]
    async with server.running() as base_url:
        started = time.monotonic()
        async with (
            asyncio.timeout(20),
            OPayClient(
                MERCHANT_ID,
                SECRET_KEY,
                base_url=base_url,
                backend=backend,  # type: ignore[arg-type]
                retry=RetryPolicy.none(),
                trust_env=False,
            ) as opay,
        ):
            try:
                result: BaseException | object = await opay.close_payment(
                    reference="R-1", country="EG"
                )
            except OPayResponseError as error:
                result = error
        return result, time.monotonic() - started


@pytest.mark.parametrize("backend", BACKENDS)
async def test_junk_after_a_gzip_answer_is_refused_as_too_large(backend: str) -> None:
    junk = b"\x00junk" * (1024 * 1024)  # 5 MB after the end of the gzip stream
    body = gzip.compress(CLOSED) + junk
    head = http_head(
        Content_Type="application/json", Content_Encoding="gzip", Content_Length=str(len(body))
    )
    tracemalloc.start()
    try:
        result, seconds = await close_against(serving(head, body), backend)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, OPayResponseError), result  # not the gzip part's CLOSE
    assert LIMIT_MESSAGE in str(result)
    assert seconds < 5
    assert peak < 24 * 1024 * 1024


def layered_bomb() -> bytes:
    """gzip(gzip-stored(1.5 MB)): 2 KB on the wire, 1.5 MB of inner stream."""
    inner = gzip.compress(b"{" + b" " * (1536 * 1024), compresslevel=0)  # stored: ~1.5 MB
    outer = gzip.compress(inner, compresslevel=9)
    assert len(outer) < 16 * 1024 < 1024 * 1024 < len(inner)
    return outer


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_body_crossing_the_limit_in_the_decoders_flush_is_refused(backend: str) -> None:
    body = layered_bomb()
    head = http_head(
        Content_Type="application/json",
        Content_Encoding="gzip, gzip",
        Content_Length=str(len(body)),
    )
    result, seconds = await close_against(serving(head, body), backend)
    assert isinstance(result, OPayResponseError), result
    assert LIMIT_MESSAGE in str(result)  # not "not JSON": the size check refused it
    assert seconds < 5
