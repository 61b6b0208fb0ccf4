"""Reading an answer: bounded, with every Content-Encoding the SDK asks for decoded by itself."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opay_async import OPayResponseError
from opay_async._http._reading import read_answer
from tests.helpers import hx

ANSWER = b'{"code":"00000","message":"SUCCESSFUL","data":{"orderStatus":"CLOSE"}}' * 20


class Chunks(hx.AsyncByteStream):
    """A body that arrives in small pieces, as from a network."""

    def __init__(self, data: bytes, size: int = 7) -> None:
        self.pieces = [data[i : i + size] for i in range(0, len(data), size)]

    async def __aiter__(self):  # type: ignore[override]
        for piece in self.pieces:
            yield piece


def streamed(data: bytes, encoding: str | None = None, size: int = 7) -> hx.Response:
    headers = {"content-encoding": encoding} if encoding else {}
    return hx.Response(200, headers=headers, stream=Chunks(data, size))


def deflate(data: bytes, *, raw: bool = False) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        (None, ANSWER),
        ("identity", ANSWER),
        ("gzip", gzip.compress(ANSWER)),
        ("x-gzip", gzip.compress(ANSWER)),
        ("deflate", deflate(ANSWER)),
        ("deflate", deflate(ANSWER, raw=True)),  # some servers send raw deflate
        ("gzip, deflate", deflate(gzip.compress(ANSWER))),
        ("GZIP , Identity", gzip.compress(ANSWER)),
    ],
)
async def test_every_encoding_asked_for_is_decoded(encoding: str | None, body: bytes) -> None:
    assert await read_answer(streamed(body, encoding), reference="R-1") == ANSWER


@given(size=st.integers(1, 64), layers=st.integers(0, 3))
async def test_decoding_does_not_depend_on_how_the_body_is_cut(size: int, layers: int) -> None:
    body = ANSWER
    for _ in range(layers):
        body = gzip.compress(body)
    encoding = ", ".join(["gzip"] * layers) or None
    assert await read_answer(streamed(body, encoding, size)) == ANSWER


@pytest.mark.parametrize(
    ("encoding", "body", "says"),
    [
        ("br", ANSWER, "'br' was not asked for"),
        ("gzip", b"\x1f\x8b\x08\x00 not really gzip", "gzip encoding is broken"),
        ("deflate", b"neither zlib nor raw deflate \xff\xff", "deflate encoding is broken"),
        ("gzip, " * 5 + "gzip", ANSWER, "claims 6 content encodings"),
    ],
)
async def test_an_encoding_not_asked_for_or_broken_is_a_response_error(
    encoding: str, body: bytes, says: str
) -> None:
    with pytest.raises(OPayResponseError, match=says) as caught:
        await read_answer(streamed(body, encoding), reference="R-1")
    assert caught.value.reference == "R-1"
    assert not caught.value.retryable


async def test_the_limit_counts_decoded_bytes_and_raw_ones() -> None:
    large = b"0" * 5_000
    assert await read_answer(streamed(gzip.compress(large), "gzip"), limit=5_000) == large
    with pytest.raises(OPayResponseError, match="larger than 4,999 bytes"):
        await read_answer(streamed(gzip.compress(large), "gzip"), limit=4_999)
    with pytest.raises(OPayResponseError, match="larger than 100 bytes"):
        await read_answer(streamed(bytes(range(256)) * 2), limit=100)  # raw bytes too


async def test_what_a_decoder_holds_back_counts_too() -> None:
    # 2,000 bytes that gzip keeps until its flush: the last layer's output is the flush.
    body = gzip.compress(b"x" * 2_000)
    with pytest.raises(OPayResponseError, match="larger than 1,000 bytes"):
        await read_answer(streamed(body, "gzip", size=len(body)), limit=1_000)


async def test_a_body_read_already_is_size_checked() -> None:
    already = hx.Response(200, content=ANSWER)  # what in-process transports hand over
    assert await read_answer(already) == ANSWER
    with pytest.raises(OPayResponseError, match="larger than 10 bytes"):
        await read_answer(hx.Response(200, content=ANSWER), limit=10)
    # exactly the limit is an answer
    assert await read_answer(hx.Response(200, content=ANSWER), limit=len(ANSWER)) == ANSWER
    with pytest.raises(OPayResponseError, match=f"larger than {len(ANSWER) - 1:,} bytes"):
        await read_answer(hx.Response(200, content=ANSWER), limit=len(ANSWER) - 1)
