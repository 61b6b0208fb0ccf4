"""The answer reader's bounds, decoder call by decoder call, with small limits.

``tests/test_reading.py`` and ``tests/reliability/test_reading_limits.py`` show what a
caller sees; these pin the mechanism the memory promise rests on: no decoder is ever
asked for more than what is left of the limit, plus the one byte that says "too much".
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections.abc import AsyncIterator

import pytest

from opay_async import OPayResponseError
from opay_async._http import _reading
from opay_async._http._reading import MAX_ANSWER_BYTES

LIMIT = 4096
Layer = _reading._Layer  # pyright: ignore[reportPrivateUsage]
decode = _reading._decode  # pyright: ignore[reportPrivateUsage]


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def stored_then_packed(stored: bytes, packed: bytes) -> bytes:
    """One gzip member: ``stored`` as a stored deflate block (as long on the wire as
    decoded), then ``packed`` compressed hard. Another gzip compresses it well.
    """
    assert len(stored) <= 0xFFFF
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    payload = stored + packed
    return (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # header: deflate, no name, mtime 0
        + b"\x00"  # a block, not the last, stored
        + struct.pack("<HH", len(stored), len(stored) ^ 0xFFFF)
        + stored
        + raw.compress(packed)
        + raw.flush()
        + struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)
    )


def test_the_hand_made_member_is_gzip() -> None:
    assert gzip.decompress(stored_then_packed(b"xy" * 10, b"a" * 1000)) == b"xy" * 10 + b"a" * 1000


def too_large(limit: int) -> str:
    return (
        f"the answer is larger than {limit:,} bytes (an OPay answer is under 1 KB); "
        "reading stopped there"
    )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(layer, bytes put out) for each call of a decoder layer, in order."""
    made: list[tuple[int, int]] = []
    feed = Layer.feed

    def counted(layer: _reading._Layer, data: bytes, room: int) -> bytes:  # pyright: ignore[reportPrivateUsage]
        out = feed(layer, data, room)
        made.append((id(layer), len(out)))
        return out

    monkeypatch.setattr(Layer, "feed", counted)
    return made


def bounded(calls: list[tuple[int, int]]) -> bool:
    """No call put out more than the limit and one byte, nor the innermost layer in all."""
    innermost = calls[-1][0]  # each piece goes through the layers outermost first
    total = sum(size for layer, size in calls if layer == innermost)
    return max(size for _, size in calls) <= LIMIT + 1 and total <= LIMIT + 1


# --- one layer, one call ----------------------------------------------------------------


def test_a_layer_puts_out_what_is_left_plus_one_byte_per_call() -> None:
    layer = Layer("gzip")
    assert layer.feed(gzip.compress(b"a" * 10_000), 10) == b"a" * 11


def test_raw_deflate_is_accepted_where_zlib_deflate_was_announced() -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = raw.compress(b"hello") + raw.flush()
    assert Layer("deflate").feed(data, 100) == b"hello"


def test_raw_deflate_is_refused_where_gzip_was_announced() -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    with pytest.raises(OPayResponseError) as caught:
        Layer("gzip").feed(raw.compress(b"hello") + raw.flush(), 100)
    assert caught.value.message.startswith("the answer's gzip encoding is broken (Error -3 ")


def test_deflate_broken_both_ways_is_refused_not_retried_forever() -> None:
    layer = Layer("deflate")
    with pytest.raises(OPayResponseError) as caught:
        layer.feed(b"\xff" * 64, 100)
    assert caught.value.message.startswith("the answer's deflate encoding is broken (Error -3 ")


def test_only_the_first_bytes_may_switch_deflate_to_raw() -> None:
    layer = Layer("deflate")
    assert layer.feed(zlib.compress(b"x" * 100)[:2], 1000) == b""  # a zlib header: no raw
    with pytest.raises(OPayResponseError, match="deflate encoding is broken"):
        layer.feed(b"\xff" * 64, 1000)


# --- encodings --------------------------------------------------------------------------


async def test_four_layers_are_decoded_and_a_fifth_refused() -> None:
    body = b'{"code":"00000"}'
    wrapped = body
    for _ in range(4):
        wrapped = gzip.compress(wrapped)
    assert await decode(pieces(wrapped, 5), "gzip, gzip, gzip, gzip", LIMIT) == body
    with pytest.raises(OPayResponseError) as caught:
        await decode(pieces(gzip.compress(wrapped), 5), "gzip, " * 4 + "gzip", LIMIT)
    assert caught.value.message == "the answer claims 5 content encodings"


async def test_an_unknown_encoding_is_named_in_twenty_characters_at_most() -> None:
    name = "br-" + "x" * 40
    with pytest.raises(OPayResponseError) as caught:
        await decode(pieces(b"{}", 5), f"gzip, {name}", LIMIT)
    assert caught.value.message == f"the answer's content encoding {name[:20]!r} was not asked for"


# --- the limit, raw and decoded ---------------------------------------------------------


@pytest.mark.parametrize("size", [1, 100, LIMIT])
async def test_exactly_the_limit_is_an_answer_and_one_byte_more_is_not(size: int) -> None:
    body = os.urandom(LIMIT)
    assert await decode(pieces(body, size), None, LIMIT) == body
    with pytest.raises(OPayResponseError) as caught:
        await decode(pieces(body + b"!", size), None, LIMIT)
    assert caught.value.message == too_large(LIMIT)


async def test_the_raw_bytes_count_even_when_they_decode_to_little() -> None:
    wrapped = gzip.compress(b"{}", mtime=0) + b"\0" * (LIMIT - 20)  # zlib ignores the tail
    assert len(wrapped) == LIMIT + 2
    with pytest.raises(OPayResponseError) as caught:
        await decode(pieces(wrapped, 512), "gzip", LIMIT)
    assert caught.value.message == too_large(LIMIT)
    exact = gzip.compress(b"{}", mtime=0) + b"\0" * (LIMIT - 22)
    assert len(exact) == LIMIT
    assert await decode(pieces(exact, 512), "gzip", LIMIT) == b"{}"


def test_the_default_limit_is_one_mebibyte() -> None:
    assert MAX_ANSWER_BYTES == 1024 * 1024
    assert too_large(MAX_ANSWER_BYTES).startswith("the answer is larger than 1,048,576 bytes")


# --- no decoder asked for more than what is left ----------------------------------------


async def test_a_bomb_arriving_in_pieces_is_decoded_no_further_than_the_limit(
    calls: list[tuple[int, int]],
) -> None:
    bomb = gzip.compress(b"a" * (50 * LIMIT), mtime=0)
    with pytest.raises(OPayResponseError):
        await decode(pieces(bomb, 16), "gzip", LIMIT)
    assert len(calls) > 1
    assert bounded(calls)


@pytest.mark.parametrize("size", [7, 0], ids=["in-pieces", "whole"])
async def test_a_stream_too_long_inside_another_ends_the_read_rather_than_being_cut(
    size: int, calls: list[tuple[int, int]]
) -> None:
    # The inner stream is longer than the limit (stored bytes, then a run that decodes to
    # far more), the outer layer compresses it well. The outer layer's output reaches its
    # cap: the read ends there, rather than the inner layer decoding a stream cut short.
    inner = stored_then_packed(b"s" * (LIMIT - 14), b"a" * (100 * LIMIT))
    wrapped = gzip.compress(inner, mtime=0)
    assert len(inner) > LIMIT + 1 > len(wrapped)
    with pytest.raises(OPayResponseError) as caught:
        await decode(pieces(wrapped, size or len(wrapped)), "gzip, gzip", LIMIT)
    assert caught.value.message == too_large(LIMIT)
    assert bounded(calls)


async def test_an_inner_stream_longer_than_the_limit_counts_though_it_decodes_to_less() -> None:
    # Every layer counts: the answer itself (LIMIT - 8 bytes) would fit.
    payload = b"s" * (LIMIT - 14) + b"t" * 6
    inner = stored_then_packed(payload[: LIMIT - 14], payload[LIMIT - 14 :])
    assert len(inner) > LIMIT + 1
    assert gzip.decompress(inner) == payload
    wrapped = gzip.compress(inner, mtime=0)
    with pytest.raises(OPayResponseError, match="larger than 4,096 bytes"):
        await decode(pieces(wrapped, 64), "gzip, gzip", LIMIT)
    # an inner stream of exactly the limit is decoded; one byte more is not
    fits = stored_then_packed(payload[: LIMIT - 28], payload[LIMIT - 14 :])
    assert len(fits) == LIMIT
    whole = gzip.compress(fits, mtime=0)
    assert await decode(pieces(whole, len(whole)), "gzip, gzip", LIMIT) == gzip.decompress(fits)
    over = gzip.compress(stored_then_packed(payload[: LIMIT - 27], payload[LIMIT - 14 :]))
    with pytest.raises(OPayResponseError, match="larger than 4,096 bytes"):
        await decode(pieces(over, len(over)), "gzip, gzip", LIMIT)
