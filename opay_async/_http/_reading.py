"""Reading an answer's body: never more than a bounded number of bytes, after decoding.

A close answer is under 1 KB. Whatever sits between us and OPay may send far more: a
200 MB page, an endless chunked body, or a gzip bomb (a few hundred bytes on the wire,
hundreds of MB once decoded, nested ``Content-Encoding: gzip, gzip``). The body is read
as raw bytes and decoded here, each layer's output capped by ``zlib``'s
``max_length``, so memory stays within a small multiple of the limit whatever arrives.

Every layer counts, not only the last: a layer whose output reaches the limit ends the
read, even where the layers after it would have made less of it. zlib puts out all it
can as input arrives, so nothing is left to flush at the end: only input held back by
``max_length`` would be, and reaching ``max_length`` ends the read.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Final, Unpack

import httpx2

from .._errors import Identity, OPayResponseError

__all__ = ["ACCEPT_ENCODING", "MAX_ANSWER_BYTES", "header", "read_answer"]

#: The most an answer may hold, counted after decoding (OPay's answers are under 1 KB).
MAX_ANSWER_BYTES: Final = 1024 * 1024
#: The encodings asked for, and the only ones decoded.
ACCEPT_ENCODING: Final = "gzip, deflate"
#: More layers than this is not an answer but an attack.
_MAX_LAYERS: Final = 4
_GZIP: Final = 16 + zlib.MAX_WBITS


class _Layer:
    """One ``Content-Encoding`` undone, its output capped per call."""

    __slots__ = ("_decoder", "_name", "_raw_fallback")

    def __init__(self, name: str) -> None:
        self._name = name
        self._raw_fallback = name == "deflate"  # some servers send raw deflate
        wbits = _GZIP if name in {"gzip", "x-gzip"} else zlib.MAX_WBITS
        self._decoder = zlib.decompressobj(wbits)

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode ``data``; at most ``room + 1`` bytes come out (one more means too many)."""
        raw_fallback, self._raw_fallback = self._raw_fallback, False  # first bytes only
        try:
            return self._decoder.decompress(data, room + 1)
        except zlib.error as error:
            if raw_fallback:  # announced as deflate, sent as raw deflate
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data, room)
            raise OPayResponseError(
                f"the answer's {self._name} encoding is broken ({error})"
            ) from None


def _layers(content_encoding: str | None) -> list[_Layer]:
    names = [name.strip().lower() for name in (content_encoding or "").split(",")]
    names = [name for name in names if name and name != "identity"]
    if len(names) > _MAX_LAYERS:
        raise OPayResponseError(f"the answer claims {len(names)} content encodings")
    unknown = [name for name in names if name not in {"gzip", "x-gzip", "deflate"}]
    if unknown:
        raise OPayResponseError(
            f"the answer's content encoding {unknown[0][:20]!r} was not asked for"
        )
    return [_Layer(name) for name in reversed(names)]  # the last applied is undone first


def _too_large(limit: int) -> OPayResponseError:
    return OPayResponseError(
        f"the answer is larger than {limit:,} bytes (an OPay answer is under 1 KB); "
        "reading stopped there"
    )


def header(response: httpx2.Response, name: bytes) -> str | None:
    """The first ``name`` header of ``response`` (lower case), read from its raw list.

    ``response.headers.get`` recomputes the headers' encoding at every lookup; an answer
    has a handful of headers, and this reads the two the SDK needs for the price of one.
    """
    for key, value in response.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def read_answer(
    response: httpx2.Response, *, limit: int = MAX_ANSWER_BYTES, **identity: Unpack[Identity]
) -> bytes:
    """The decoded body of ``response`` (sent with ``stream=True``), at most ``limit`` bytes.

    An in-process transport (``httpx2.MockTransport``, the simulator's) may hand over a
    body it has already read and decoded; it is size-checked as it is.

    Raises:
        OPayResponseError: More than ``limit`` bytes (raw or decoded), or an encoding
            that was not asked for, or broken.
    """
    try:
        if response.is_stream_consumed:
            if len(response.content) > limit:
                raise _too_large(limit)
            return response.content
        return await _decode(response.aiter_raw(), header(response, b"content-encoding"), limit)
    except OPayResponseError as error:
        raise OPayResponseError(error.message, **identity) from None


async def _decode(chunks: AsyncIterator[bytes], content_encoding: str | None, limit: int) -> bytes:
    layers = _layers(content_encoding)
    body = bytearray()
    raw = 0
    async for chunk in chunks:
        raw += len(chunk)
        if raw > limit:  # without layers, this bounds the body too
            raise _too_large(limit)
        room = limit - len(body)
        data: bytes = chunk
        for layer in layers:
            data = layer.feed(data, room)
            if len(data) > room:  # at its cap, and what did not fit was dropped
                raise _too_large(limit)
        body += data
    return bytes(body)
