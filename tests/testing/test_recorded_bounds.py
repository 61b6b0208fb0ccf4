"""What the simulator records is bounded, so its listing always answers, and answers small."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
import tracemalloc
from typing import Any

import httpx2
from hypothesis import given
from hypothesis import strategies as st

from opay_async import CLOSE_PATH
from opay_async.testing import ADMIN_PREFIX, FakeOPay
from tests.helpers import body_of, signed_for, spawned

LISTING = f"{ADMIN_PREFIX}/requests"


def nested(depth: int) -> bytes:
    """An unsigned close body whose ``note`` nests ``depth`` objects deep."""
    return (
        b'{"reference":"DEEP","country":"EG","note":'
        + b'{"a":' * depth
        + b"1"
        + b"}" * depth
        + b"}"
    )


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    return 0


def test_a_body_nested_970_deep_does_not_break_the_listing_of_the_command() -> None:
    # The case, through the command's server: a body that parses 970 levels deep
    # was kept whole and the listing answered 500 from then on. How deep json parses
    # depends on the stack the server runs on (less deep under coverage), so several
    # depths are sent: those that parse are recorded cut to 16 levels, the rest as bytes.
    depths = (100, 500, 900, 970, 5000)
    started = time.monotonic()
    with spawned(
        "simulate", "--port", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30
    ) as process:
        assert process.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline().decode())
        assert url, "no banner"
        with httpx2.Client(base_url=url.group(0), timeout=5) as http:
            answers = [http.post(CLOSE_PATH, content=nested(depth)) for depth in depths]
            listing = http.get(LISTING)
            again = http.get(LISTING)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert {answer.json()["code"] for answer in answers} == {"02000"}  # unsigned
    assert listing.status_code == again.status_code == 200
    records = listing.json()["requests"]
    assert len(records) == len(depths)
    assert all(record["truncated"] for record in records)
    parsed = [record for record in records if record["json"] is not None]
    assert len(parsed) >= 2  # 100 and 500 levels parse on any stack
    for record in parsed:
        assert record["reference"] == "DEEP"  # what a test looks at survives the cut
        assert record["json"]["country"] == "EG"
        assert depth_of(record["json"]) == 16
    assert records[-1]["json"] is None  # 5000 levels never parse: recorded as bytes
    assert len(listing.content) < 64 * 1024
    assert time.monotonic() - started < 30


async def test_one_megabyte_bodies_make_a_small_listing() -> None:
    fake = FakeOPay()
    junk = "x" * (1024 * 1024 - 200)
    body = json.dumps({"reference": "BIG", "country": "EG", "junk": junk}).encode()
    assert 1000 * 1000 < len(body) <= 1024 * 1024  # under the server's 1 MiB limit
    transport = httpx2.ASGITransport(app=fake.app)
    tracemalloc.start()
    try:
        async with (
            asyncio.timeout(30),
            httpx2.AsyncClient(transport=transport, base_url="http://sim.test") as http,
        ):
            for _ in range(50):
                await http.post(CLOSE_PATH, content=body)
            listing = await http.get(LISTING)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    records = listing.json()["requests"]
    assert len(records) == 50
    assert all(r["truncated"] and r["reference"] == "BIG" for r in records)
    assert all(len(r["body"]) == 4096 for r in records)
    # 50 records of 1 MB were 115 MB listed; bounded, each is under 12 KiB.
    assert len(listing.content) < 50 * 12 * 1024
    assert peak < 40 * 1024 * 1024  # the request bodies are not kept
    assert sum(len(seen.body) for seen in fake.requests) == 50 * 4096


async def test_a_signed_close_is_recorded_whole() -> None:
    fake = FakeOPay(auto_create=True)
    body = body_of(reference="WHOLE-1", country="EG")
    transport = httpx2.ASGITransport(app=fake.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sim.test") as http:
        await http.post(CLOSE_PATH, content=body, headers=signed_for(fake, body))
        record = (await http.get(LISTING)).json()["requests"][0]
    seen = fake.requests[0]
    assert seen.body == body
    assert seen.json == json.loads(body)
    assert seen.truncated is False
    assert seen.verified is True
    assert seen.authorization is not None and len(seen.authorization) == 7 + 128
    assert record["json"] == json.loads(body)
    assert record["truncated"] is False


async def test_huge_headers_are_cut_in_the_record() -> None:
    fake = FakeOPay()
    transport = httpx2.ASGITransport(app=fake.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sim.test") as http:
        await http.post(
            CLOSE_PATH,
            content=b"{}",
            headers={"MerchantId": "9" * 50_000, "Content-Type": "a" * 9000},
        )
        record = (await http.get(LISTING)).json()["requests"][0]
    assert record["merchant_id"] == "9" * 1024
    assert record["content_type"] == "a" * 1024
    assert record["truncated"] is True


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=40,
)


@given(st.dictionaries(st.text(max_size=8), JSON, max_size=6), st.integers(0, 40))
def test_any_recorded_body_lists_as_json_and_is_kept_whole_when_small(
    payload: dict[str, Any], extra_depth: int
) -> None:
    for _ in range(extra_depth):
        payload = {"d": payload}
    body = json.dumps(payload).encode()
    fake = FakeOPay()
    fake.handle("POST", CLOSE_PATH, {}, body)
    seen = fake.requests[-1]
    listed = json.dumps(seen.as_json())  # never RecursionError
    assert len(listed) < 3 * 4096 + 4 * len(body[:4096]) + 2000
    small = depth_of(payload) <= 16 and len(body) <= 4096 // 2
    if small:
        assert seen.json == payload
        assert seen.truncated is False
    if not seen.truncated:
        assert seen.json == payload
        assert seen.body == body
    else:
        assert depth_of(seen.json) <= 16
