"""The admin API answers every input with a 4xx and a message, never a 5xx (fuzzed).

Bodies are generated as JSON (nested, huge ints, 400 nines, floats, wrong types in every
numeric field), as bytes (non-UTF-8, non-JSON, deeply nested, larger than the limit) and
sent to the simulator's ASGI app with a plain ``httpx2`` client; the issue's own bodies are
also sent over real HTTP. After each, the simulator still answers its info and its listing.
"""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opay_async.testing import ADMIN_PREFIX, FakeOPay

A = ADMIN_PREFIX
NINES = int("9" * 400)

#: Every admin route and method that reads a body, with the fields it knows.
ROUTES: dict[str, tuple[str, ...]] = {
    "/payments": ("reference", "order_no", "country", "amount", "status"),
    "/payments/P-1/status": ("status",),
    "/faults": (
        "kind",
        "count",
        "code",
        "message",
        "status",
        "body",
        "content_type",
        "retry_after",
        "after_close",
    ),
    "/fault-rates": ("service_unavailable", "http_502", "malformed", "drop", "timeout", "seed"),
    "/latency": ("seconds", "min", "max"),
    "/settings": ("auto_create", "paid_answer"),
    "/reset": ("settings",),
}

HOSTILE_NUMBERS = st.sampled_from(
    [
        NINES,
        -NINES,
        10**4000,  # a JSON number of 4001 digits (Python parses up to 4300)
        1e308,
        -1e308,
        5e-324,
        float("inf"),
        float("-inf"),
        float("nan"),
        True,
        False,
        0,
        -1,
        2**63,
        2**64 + 1,
        599,
        600,
        10_000,
        10_001,
    ]
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HOSTILE_NUMBERS,
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["api_error", "http_error", "drop", "timeout", "malformed", "CLOSE", "EG"]),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def admin_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A route and a JSON object of its own fields (and now and then a stranger)."""
    route = draw(st.sampled_from(sorted(ROUTES)))
    names = draw(st.lists(st.sampled_from(ROUTES[route]), max_size=4, unique=True))
    body: dict[str, Any] = {}
    for name in names:
        if name == "amount":
            body[name] = draw(
                st.one_of(
                    st.fixed_dictionaries({"total": JSON_VALUES, "currency": JSON_VALUES}),
                    st.fixed_dictionaries({"total": HOSTILE_NUMBERS, "currency": st.just("EGP")}),
                    JSON_VALUES,
                )
            )
        else:
            body[name] = draw(st.one_of(HOSTILE_NUMBERS, JSON_VALUES))
    if route == "/payments" and draw(st.booleans()):
        body.setdefault("reference", "P-1")
    if route == "/faults" and draw(st.booleans()):
        body.setdefault("kind", draw(st.sampled_from(["api_error", "http_error", "drop"])))
    return route, json.dumps(body).encode()  # NaN and Infinity as Python writes them


RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.integers(min_value=1, max_value=5000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(min_value=1, max_value=5000).map(
        lambda depth: b'{"seconds":' + b'{"a":' * depth + b"1" + b"}" * (depth + 1)
    ),
    st.sampled_from([b"\xff\xfe{}", b"\xc3\x28", b"{", b"nul", b'{"seconds": 1}' * 3]),
)


@asynccontextmanager
async def admin(fake: FakeOPay) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=fake.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sim.test") as http:
        yield http


async def assert_answered(http: httpx2.AsyncClient, method: str, path: str, body: bytes) -> int:
    answer = await http.request(method, path, content=body)
    assert answer.status_code < 500, (method, path, body[:200], answer.text[:500])
    if len(body) > 1024 * 1024:  # refused by the server before the admin API: plain text
        assert (answer.status_code, answer.text) == (413, "Request Entity Too Large")
    else:
        assert answer.headers["content-type"] == "application/json"
    if answer.status_code >= 400 and len(body) <= 1024 * 1024:
        message = answer.json()["error"]
        assert isinstance(message, str)
        assert message
    still = await http.get(A)
    listing = await http.get(f"{A}/requests")
    assert still.status_code == listing.status_code == 200
    return answer.status_code


@given(admin_bodies())
async def test_fuzzed_json_in_every_field_never_answers_a_5xx(case: tuple[str, bytes]) -> None:
    route, body = case
    fake = FakeOPay(auto_create=True)
    fake.add_payment(reference="P-1", country="EG")
    async with asyncio.timeout(10), admin(fake) as http:
        await assert_answered(http, "POST", A + route, body)


@given(
    st.sampled_from(["", *sorted(ROUTES), "/requests", "/faults/x", "/payments/\u00e9"]),
    st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
    RAW_BODIES,
)
async def test_fuzzed_bytes_never_answer_a_5xx(route: str, method: str, body: bytes) -> None:
    fake = FakeOPay()
    async with asyncio.timeout(10), admin(fake) as http:
        await assert_answered(http, method, A + route, body)


# The issue's reproductions: each answered 500 before.
ISSUE = [
    ("/faults", {"kind": "drop", "count": NINES}, "count"),
    ("/faults", {"kind": "http_error", "status": NINES}, "status"),
    ("/fault-rates", {"drop": NINES}, "drop"),
    ("/fault-rates", {"seed": NINES}, "seed"),
    ("/fault-rates", {"seed": -NINES}, "seed"),
    ("/latency", {"seconds": NINES}, "latency.seconds"),
    ("/latency", {"min": 0, "max": NINES}, "latency.max"),
    ("/latency", {"min": NINES}, "latency.min"),
    ("/payments", {"reference": "A", "amount": {"total": NINES, "currency": "EGP"}}, "total"),
    ("/faults", {"kind": "http_error", "retry_after": NINES}, "retry_after"),
    ("/faults", {"kind": "http_error", "retry_after": 1e308}, "retry_after"),
    ("/faults", {"kind": "drop", "count": 10**4000}, "count"),
]


@pytest.mark.parametrize(("route", "body", "field"), ISSUE)
async def test_the_issues_numbers_answer_400_naming_the_field_over_http(
    route: str, body: dict[str, Any], field: str
) -> None:
    fake = FakeOPay()
    started = time.monotonic()
    async with (
        asyncio.timeout(20),
        fake.serve(port=0) as base_url,
        httpx2.AsyncClient(base_url=base_url, timeout=5) as http,
    ):
        answer = await http.post(A + route, content=json.dumps(body).encode())
        info = await http.get(A)
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]
    assert message.startswith(f"{field}: "), message
    assert len(message) < 300  # 400 nines are described, not echoed
    assert info.status_code == 200
    assert info.json()["pending_faults"] == 0
    assert time.monotonic() - started < 20


async def test_a_body_at_the_size_limit_costs_little() -> None:
    fake = FakeOPay()
    body = b'{"seconds": ' + b"9" * (64 * 1024 - 20) + b"}"
    tracemalloc.start()
    try:
        async with asyncio.timeout(10), admin(fake) as http:
            status = await assert_answered(http, "POST", f"{A}/latency", body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 400
    assert peak < 20 * 1024 * 1024


@settings(max_examples=20)
@given(st.integers(min_value=64 * 1024 + 1, max_value=3 * 1024 * 1024))
async def test_bodies_over_the_limit_answer_413(size: int) -> None:
    fake = FakeOPay()
    async with asyncio.timeout(10), admin(fake) as http:
        assert await assert_answered(http, "POST", f"{A}/latency", b" " * size) == 413
