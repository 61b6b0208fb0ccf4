"""Whatever bytes come back, the caller gets a Payment or an OPayError, in bounded time and memory.

A raw asyncio server on 127.0.0.1 plays OPay, or whatever sits between us and OPay, at
its worst. Each case runs on both backends. The memory cases run the client in a child
process that measures its own peak RSS, so the server's memory (and the test runner's)
does not count.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import json
import os
import sys
import time
import zlib

import pytest

from opay_async import (
    OPayClient,
    OPayConnectionError,
    OPayError,
    OPayResponseError,
    OPayTimeoutError,
    Payment,
    RetryPolicy,
)
from tests.helpers import (
    CHILD_LOOP,
    MERCHANT_ID,
    SECRET_KEY,
    UVLOOP,
    RawServer,
    answering,
    http_head,
    hx,
    read_request,
)

# The SDK's own pool on each backend, and a caller's client of the family under test
# (httpx2, or legacy httpx in the tests-legacy-httpx session).
BACKENDS = ["httpx2", "aiohttp", "http_client"]
REFERENCE = "HOSTILE-1"


def closed_answer(**data: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "reference": REFERENCE,
        "orderNo": "211018140366538753",
        "country": "EG",
        "amount": {"total": 400, "currency": "EGP"},
        "orderStatus": "CLOSE",
    }
    payload.update(data)
    return {"code": "00000", "message": "SUCCESSFUL", "data": payload}


async def close_against(
    handler: object, backend: str, *, attempt_timeout: float = 5.0
) -> tuple[Payment | OPayError, float]:
    """Close REFERENCE once (no retry) against a server answering with ``handler``."""
    server = RawServer(handler)  # type: ignore[arg-type]
    async with server.running() as base_url:
        started = time.perf_counter()
        http = hx.AsyncClient(trust_env=False) if backend == "http_client" else None
        async with (
            contextlib.AsyncExitStack() if http is None else http,
            OPayClient(
                MERCHANT_ID,
                SECRET_KEY,
                base_url=base_url,
                backend="httpx2" if http is not None else backend,  # type: ignore[arg-type]
                http_client=http,
                timeout=attempt_timeout,
                retry=RetryPolicy.none(),
                trust_env=False,
            ) as opay,
        ):
            try:
                result: Payment | OPayError = await opay.close_payment(
                    reference=REFERENCE, country="EG"
                )
            except OPayError as error:
                result = error
        return result, time.perf_counter() - started


def json_body(payload: object) -> bytes:
    return json.dumps(payload).encode()


# -- answers that are JSON, but hostile ---------------------------------------------------

HOSTILE_JSON = {
    "nested 10,000 deep": b'{"code":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "nested objects 100,000 deep": b'{"a":' * 100_000,
    "NaN code": b'{"code": NaN, "message": "x"}',
    "5,000-digit code": b'{"code": ' + b"9" * 5_000 + b"}",
    "5,000-digit total": json_body(closed_answer()).replace(b"400", b"4" * 5_000),
    "a list": b"[1, 2, 3]",
    "lone surrogate in message": b'{"code": "02006", "message": "\\ud800 not found"}',
    "not UTF-8": b'{"code": "02006", "message": "\xff\xfe"}',
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("body", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
async def test_hostile_json_is_an_opay_error(body: bytes, backend: str) -> None:
    result, elapsed = await close_against(answering(200, body), backend)
    assert isinstance(result, OPayError), result
    assert len(str(result)) < 600
    assert str(result).isprintable()
    assert elapsed < 5


@pytest.mark.parametrize(
    "total", ["²", "١٢٣", "4" * 5_000, "-1", "1e3", " 400", True, 10**20, [400]]
)
async def test_an_unreadable_amount_is_dropped_not_raised(total: object) -> None:
    answer = json_body(closed_answer(amount={"total": total, "currency": "EGP"}))
    result, _ = await close_against(answering(200, answer), "httpx2")
    assert isinstance(result, Payment)
    assert result.is_closed
    assert result.amount is None


async def test_a_huge_message_is_quoted_short_and_printable() -> None:
    message = "\x1b[31mRED\x1b[0m \u202egnirts desrever\u202c " + "x" * 1_000_000
    body = json_body({"code": "02006", "message": message})
    result, _ = await close_against(answering(200, body), "httpx2")
    assert isinstance(result, OPayError)
    assert len(str(result)) < 300
    assert "\x1b" not in str(result)
    assert "\u202e" not in str(result)


async def test_a_key_or_signature_echoed_back_is_redacted() -> None:
    body = json_body({"code": "02000", "message": f"bad key {SECRET_KEY} sig {'ab' * 64}"})
    result, _ = await close_against(answering(200, body), "httpx2")
    assert isinstance(result, OPayError)
    assert SECRET_KEY not in str(result)
    assert "ab" * 64 not in str(result)


@pytest.mark.parametrize(
    "data",
    [{"reference": "SOMEONE-ELSE"}, {"country": "NG"}],
    ids=["another reference", "another country"],
)
async def test_a_success_about_another_payment_is_refused(data: dict[str, object]) -> None:
    result, _ = await close_against(answering(200, json_body(closed_answer(**data))), "httpx2")
    assert isinstance(result, OPayResponseError)
    assert "another payment" in str(result)
    assert not result.retryable


@pytest.mark.parametrize("code", ["00", "00000", 0])
async def test_both_documented_success_codes_are_success(code: object) -> None:
    answer = closed_answer()
    answer["code"] = code
    result, _ = await close_against(answering(200, json_body(answer)), "httpx2")
    assert isinstance(result, Payment)
    assert result.is_closed


# -- transport-level hostility -------------------------------------------------------------


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"\x00\xffNOT HTTP AT ALL\r\n\r\n" * 10)
    await writer.drain()


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
    await writer.drain()
    writer.transport.abort()  # RST, mid-head


async def huge_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 2_000_000 + b"\r\n\r\n")
    await writer.drain()


async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(http_head(200, Content_Length="1000") + b'{"code":"00000","da')
    await writer.drain()
    writer.close()  # the body stops 980 bytes short


async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(http_head(200, Content_Length="100000"))
    while True:  # one byte every 50 ms: each read is quick, the answer never ends
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


async def silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.sleep(3600)


async def endless_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(http_head(200, Transfer_Encoding="chunked"))
    chunk = b"%x\r\n%s\r\n" % (65_536, b"a" * 65_536)
    while True:
        writer.write(chunk)
        await writer.drain()


TRANSPORT_CASES = {
    "garbage": (garbage, OPayConnectionError),
    "reset mid-head": (reset, OPayConnectionError),
    "body cut short": (truncated, OPayConnectionError),
    "2 MB header": (huge_header, OPayConnectionError),
    "a drip that never ends": (drip, OPayTimeoutError),
    "silence": (silence, OPayTimeoutError),
    "endless chunked body": (endless_chunks, OPayResponseError),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("handler", "expected"), TRANSPORT_CASES.values(), ids=TRANSPORT_CASES.keys()
)
async def test_transport_hostility_is_a_typed_error_in_bounded_time(
    handler: object, expected: type[OPayError], backend: str
) -> None:
    result, elapsed = await close_against(handler, backend, attempt_timeout=1.0)
    assert isinstance(result, expected), repr(result)
    assert elapsed < 3  # the attempt's deadline holds, whatever the server does
    if expected is OPayResponseError:
        assert "larger than 1,048,576 bytes" in str(result)


async def test_a_bulk_run_goes_on_through_every_hostile_answer() -> None:
    bodies = [*HOSTILE_JSON.values(), json_body(closed_answer())]

    async def one_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, body = await read_request(reader)
            reference = json.loads(body)["reference"]
            index = int(reference.rsplit("-", 1)[1])
            answer = bodies[index].replace(REFERENCE.encode(), reference.encode())
            writer.write(http_head(200, Content_Length=str(len(answer))) + answer)
            await writer.drain()

    async with RawServer(one_each).running() as base_url:
        async with OPayClient(
            MERCHANT_ID, SECRET_KEY, base_url=base_url, retry=RetryPolicy.none()
        ) as opay:
            outcomes = await opay.close_many(
                [f"HOSTILE-{n}" for n in range(len(bodies))], country="EG", concurrency=3
            )
    assert len(outcomes) == len(bodies)
    assert [outcome.ok for outcome in outcomes] == [False] * (len(bodies) - 1) + [True]
    assert all(isinstance(outcome.error, OPayError) for outcome in outcomes[:-1])


# -- memory: measured in a child process ----------------------------------------------

CHILD = (
    CHILD_LOOP
    + """
import asyncio, importlib, json, os, sys, time
from opay_async import OPayClient, OPayError, RetryPolicy

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024

async def main(base_url, backend):
    http = None
    if backend == "http_client":  # a caller's client of the family under test
        legacy = os.environ.get("OPAY_TESTS_HTTPX") == "legacy"
        http = importlib.import_module("httpx" if legacy else "httpx2").AsyncClient()
        backend = "httpx2"
    async with OPayClient("256612345678901", "OPAYPRV_memory", base_url=base_url,
                          backend=backend, http_client=http, timeout=20,
                          retry=RetryPolicy.none(), trust_env=False) as opay:
        try:
            await opay.close_payment(reference="WARM-UP", country="EG")
        except OPayError:
            pass
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the peak RSS starts again from here
        before = status("VmRSS")
        started = time.perf_counter()
        try:
            result = await opay.close_payment(reference="ATTACK", country="EG")
        except OPayError as error:
            result = error
        elapsed = time.perf_counter() - started
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(json.dumps({"type": type(result).__name__, "message": str(result),
                      "growth_mib": status("VmHWM") - before, "elapsed": elapsed,
                      "loop": loop}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""
)


@functools.cache
def gzip_bomb() -> bytes:
    """300 MB of zeros, gzipped twice: well under a kilobyte on the wire."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    outer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    out = bytearray()
    for _ in range(300):
        out += outer.compress(inner.compress(zeros))
    out += outer.compress(inner.flush())
    out += outer.flush()
    return bytes(out)


def attack(kind: str) -> object:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, body = await read_request(reader)
            if b"WARM-UP" in body:
                warm = json.dumps(closed_answer(reference="WARM-UP")).encode()
                writer.write(http_head(200, Content_Length=str(len(warm))) + warm)
                await writer.drain()
                continue
            if kind == "gzip bomb":
                bomb = gzip_bomb()
                head = http_head(200, Content_Encoding="gzip, gzip", Content_Length=str(len(bomb)))
                writer.write(head + bomb)
            else:  # 200 MB announced and sent
                writer.write(http_head(200, Content_Length=str(200 << 20)))
                block = b"x" * (1 << 20)
                for _ in range(200):
                    writer.write(block)
                    await writer.drain()
            await writer.drain()

    return handler


@pytest.fixture(scope="module")
def can_reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as stream:
            stream.write("5")
    except OSError:
        pytest.skip("cannot reset the peak RSS here (/proc/self/clear_refs)")


@pytest.mark.usefixtures("can_reset_peak_rss")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["200 MB body", "gzip bomb"])
async def test_huge_answers_cost_little_memory(kind: str, backend: str) -> None:
    if kind == "gzip bomb":
        assert len(gzip_bomb()) < 2_000  # what the wire carries
        assert len(gzip.decompress(gzip.decompress(gzip_bomb()))) == 300 << 20
    async with RawServer(attack(kind)).running() as base_url:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            base_url,
            backend,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONWARNINGS": "error"},
        )
        out, _ = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode == 0
    report = json.loads(out)
    print(f"\n{kind} on {backend}: {report}")
    assert report["type"] == "OPayResponseError"
    assert "larger than 1,048,576 bytes" in report["message"]
    assert report["loop"] == ("uvloop" if UVLOOP else "asyncio")
    assert report["growth_mib"] < 16  # well under 64 MiB
    assert report["elapsed"] < 5
