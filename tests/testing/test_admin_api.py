"""The admin API under /_simulator: driven over real HTTP, and hostile input in process."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import httpx2
import pytest

from opay_async import CLOSE_PATH, Amount, OrderStatus
from opay_async.testing import ADMIN_PREFIX, FakeOPay, FaultKind
from tests.helpers import body_of, signed_for

A = ADMIN_PREFIX
# Every test here must end well within this many seconds, server start-up included.
BOUND = 20


@asynccontextmanager
async def served(fake: FakeOPay) -> AsyncGenerator[httpx2.AsyncClient, None]:
    """``fake`` on a free loopback port, and a plain HTTP client for it."""
    async with (
        asyncio.timeout(BOUND),
        fake.serve(port=0) as base_url,
        httpx2.AsyncClient(base_url=base_url, timeout=5) as http,
    ):
        yield http


async def close(
    http: httpx2.AsyncClient,
    fake: FakeOPay,
    reference: str,
    country: str = "EG",
    wait: float = 5.0,
) -> httpx2.Response:
    """A close request signed as OPay wants, sent with a plain client."""
    body = body_of(country=country, reference=reference)
    return await http.post(CLOSE_PATH, content=body, headers=signed_for(fake, body), timeout=wait)


# -- over real HTTP ---------------------------------------------------------------------


async def test_queue_a_50003_for_the_next_request_then_see_it() -> None:
    fake = FakeOPay(auto_create=True)
    async with served(fake) as http:
        queued = await http.post(f"{A}/faults", json={"kind": "api_error", "code": "50003"})
        assert queued.status_code == 200
        assert queued.json()["pending_faults"] == 1
        first = await close(http, fake, "GO-1")
        second = await close(http, fake, "GO-1")
        requests = (await http.get(f"{A}/requests")).json()
    assert first.json() == {"code": "50003", "message": "service not available, please try again."}
    assert second.json()["data"]["orderStatus"] == "CLOSE"
    assert requests["count"] == 2
    assert [(r["code"], r["fault"], r["verified"]) for r in requests["requests"]] == [
        ("50003", "api_error", True),
        ("00000", None, True),
    ]


async def test_payments_added_read_listed_and_changed() -> None:
    fake = FakeOPay()
    async with served(fake) as http:
        added = await http.post(
            f"{A}/payments",
            json={
                "reference": "NODE-1",
                "country": "ng",
                "status": "pending",
                "order_no": "211018140366538753",
                "amount": {"total": 1500, "currency": "NGN"},
            },
        )
        plain = await http.post(f"{A}/payments", json={"reference": "NODE-2"})
        one = await http.get(f"{A}/payments/NODE-1")
        paid = await http.post(f"{A}/payments/NODE-2/status", json={"status": "SUCCESS"})
        listed = await http.get(f"{A}/payments/")
        missing = await http.get(f"{A}/payments/NODE-9")
        closed = await close(http, fake, "NODE-1", country="NG")
        after = await http.get(f"{A}/payments/NODE-1")
    assert added.status_code == 201
    assert added.json() == {
        "reference": "NODE-1",
        "order_no": "211018140366538753",
        "country": "NG",
        "amount": {"total": 1500, "currency": "NGN"},
        "status": "PENDING",
    }
    assert plain.json()["country"] == "EG"
    assert plain.json()["status"] == "INITIAL"
    assert one.json() == added.json()
    assert paid.json()["status"] == "SUCCESS"
    assert [p["reference"] for p in listed.json()["payments"]] == ["NODE-1", "NODE-2"]
    assert missing.status_code == 404
    assert "NODE-9" in missing.json()["error"]
    assert closed.json()["data"]["orderStatus"] == "CLOSE"
    assert after.json()["status"] == "CLOSE"
    assert fake.payment(reference="NODE-2").order_status is OrderStatus.SUCCESS
    assert fake.payment(reference="NODE-1").amount == Amount(1500, "NGN")


async def test_every_fault_kind_can_be_queued_in_order() -> None:
    fake = FakeOPay(auto_create=True)
    faults: list[dict[str, object]] = [
        {"kind": "api_error", "code": "02007", "count": 1},
        {"kind": "http_error", "status": 503, "retry_after": "2", "body": "busy"},
        {"kind": "malformed"},
        {"kind": "drop"},
        {"kind": "timeout"},
        {"kind": "drop", "after_close": True},
        {"kind": "timeout", "after_close": True},
    ]
    async with served(fake) as http:
        for fault in faults:
            assert (await http.post(f"{A}/faults", json=fault)).status_code == 200
        pending = (await http.get(f"{A}/faults")).json()
        assert pending["pending_faults"] == 7
        assert [f["kind"] for f in pending["pending"]] == [f["kind"] for f in faults]
        assert pending["pending"][0] == {
            "kind": "api_error",
            "code": "02007",
            "message": "merchant not available.",
            "count": 1,
        }
        merchant = await close(http, fake, "F-1")
        busy = await close(http, fake, "F-1")
        truncated = await close(http, fake, "F-1")
        with pytest.raises(httpx2.RemoteProtocolError):
            await close(http, fake, "F-1")
        with pytest.raises(httpx2.ReadTimeout):
            await close(http, fake, "F-1", wait=0.3)
        assert fake.payments == []  # nothing processed so far
        with pytest.raises(httpx2.RemoteProtocolError):
            await close(http, fake, "F-2")
        assert fake.payment(reference="F-2").is_closed  # closed, the answer lost
        with pytest.raises(httpx2.ReadTimeout):
            await close(http, fake, "F-3", wait=0.3)
        assert fake.payment(reference="F-3").is_closed
    assert merchant.json()["code"] == "02007"
    assert (busy.status_code, busy.text, busy.headers["retry-after"]) == (503, "busy", "2")
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    assert [seen.fault for seen in fake.requests] == [
        FaultKind.API_ERROR,
        FaultKind.HTTP_ERROR,
        FaultKind.MALFORMED,
        FaultKind.DROP,
        FaultKind.TIMEOUT,
        FaultKind.DROP,
        FaultKind.TIMEOUT,
    ]


async def test_fault_rates_latency_settings_and_clearing() -> None:
    fake = FakeOPay(auto_create=True)
    async with served(fake) as http:
        rates = await http.post(f"{A}/fault-rates", json={"http_502": 1.0, "seed": 3})
        assert rates.json()["rates"]["http_502"] == 1.0
        assert (await close(http, fake, "R-1")).status_code == 502
        cleared = await http.delete(f"{A}/faults")
        assert cleared.json()["rates"]["http_502"] == 0.0
        assert (await close(http, fake, "R-1")).status_code == 200

        latency = await http.post(f"{A}/latency", json={"seconds": 0.2})
        assert latency.json() == {"latency": {"min": 0.2, "max": 0.2}}
        started = asyncio.get_running_loop().time()
        await http.get(f"{A}/")  # admin requests do not wait
        assert asyncio.get_running_loop().time() - started < 0.15
        await close(http, fake, "R-2")
        assert asyncio.get_running_loop().time() - started >= 0.19
        ranged = await http.post(f"{A}/latency", json={"min": 0, "max": 0.01})
        assert ranged.json()["latency"] == {"min": 0.0, "max": 0.01}
        assert fake.latency_range == (0.0, 0.01)

        settings = await http.post(
            f"{A}/settings", json={"auto_create": False, "paid_answer": "error"}
        )
        assert (settings.json()["auto_create"], settings.json()["paid_answer"]) == (False, "error")
        assert (await close(http, fake, "UNKNOWN")).json()["code"] == "02006"
        await http.post(f"{A}/payments", json={"reference": "PAID", "status": "SUCCESS"})
        assert (await close(http, fake, "PAID")).json()["code"] == "02001"
        info = (await http.get(A)).json()
    assert info["merchant_id"] == fake.merchant_id
    assert info["latency"] == {"min": 0.0, "max": 0.01}
    assert info["closed_count"] == 2
    assert "secret" not in json.dumps(info).lower()


async def test_recorded_requests_never_show_the_authorization_header() -> None:
    fake = FakeOPay(auto_create=True)
    async with served(fake) as http:
        good = body_of(country="EG", reference="REC-1")
        headers = signed_for(fake, good)
        await http.post(CLOSE_PATH, content=good, headers=headers)
        await http.post(CLOSE_PATH, content=good, headers=headers | {"MerchantId": "1"})
        await http.post(CLOSE_PATH, content=b"\xff\x00 not json", headers=headers)
        seen = (await http.get(f"{A}/requests")).json()
        forgotten = (await http.delete(f"{A}/requests")).json()
    text = json.dumps(seen)
    assert headers["Authorization"][7:] not in text
    assert "authorization" not in text.lower()
    first, wrong_merchant, garbage = seen["requests"]
    assert first["verified"] is True
    assert (first["reference"], first["json"], first["body"]) == (
        "REC-1",
        {"country": "EG", "reference": "REC-1"},
        good.decode(),
    )
    assert (wrong_merchant["verified"], wrong_merchant["code"]) == (False, "02000")
    assert (garbage["json"], garbage["code"]) == (None, "02000")
    assert "\ufffd" in garbage["body"]
    assert forgotten == {"count": 0, "requests": []}


async def test_admin_requests_are_not_opay_requests() -> None:
    fake = FakeOPay(auto_create=True)
    fake.set_fault_rates(drop=1.0)
    async with served(fake) as http:
        for _ in range(3):
            assert (await http.get(f"{A}/payments")).status_code == 200
        info = (await http.get(f"{A}/")).json()
    assert info["request_count"] == 0
    assert (fake.request_count, fake.requests) == (0, [])


async def test_reset_forgets_data_and_keeps_settings_unless_asked() -> None:
    fake = FakeOPay(auto_create=True)
    async with served(fake) as http:
        await close(http, fake, "Z-1")
        await http.post(f"{A}/faults", json={"kind": "malformed", "count": 3})
        await http.post(f"{A}/fault-rates", json={"timeout": 0.5})
        await http.post(f"{A}/latency", json={"seconds": 0.01})
        after = (await http.post(f"{A}/reset")).json()
        assert (after["payments"], after["request_count"], after["closed_count"]) == (0, 0, 0)
        assert after["pending_faults"] == 0
        assert after["fault_rates"]["timeout"] == 0.5
        assert after["latency"]["min"] == 0.01
        everything = (await http.post(f"{A}/reset", json={"settings": True})).json()
    assert everything["fault_rates"]["timeout"] == 0.0
    assert everything["latency"] == {"min": 0.0, "max": 0.0}
    assert fake.payments == []


async def test_a_too_large_body_is_refused_on_every_path() -> None:
    fake = FakeOPay(auto_create=True)
    async with served(fake) as http:
        huge = b"x" * (1024 * 1024 + 1)
        close_answer = await http.post(CLOSE_PATH, content=huge)
        admin_huge = await http.post(f"{A}/payments", content=huge)
        admin_large = await http.post(f"{A}/payments", content=b" " * (64 * 1024 + 1))
    assert close_answer.status_code == admin_huge.status_code == 413
    assert admin_large.status_code == 413
    assert "65536" in admin_large.json()["error"]
    assert fake.request_count == 0


# -- hostile input, in process (same code path, no sockets) --------------------------------


HOSTILE = [
    ("POST", "/payments", b"not json", 400, "not JSON"),
    ("POST", "/payments", b"\xff\xfe\x00garbage", 400, "not JSON"),
    ("POST", "/payments", b"\xc3\x28", 400, "UTF-8"),
    ("POST", "/payments", b"[" * 50_000, 400, "not JSON"),
    ("POST", "/payments", b"[1, 2]", 400, "JSON object"),
    ("POST", "/payments", b'"text"', 400, "JSON object"),
    ("POST", "/payments", b"{}", 400, "reference: is required"),
    ("POST", "/payments", b'{"reference": ""}', 400, "reference"),
    ("POST", "/payments", b'{"reference": 12}', 400, "reference"),
    ("POST", "/payments", b'{"reference": "A", "colour": "red"}', 400, "unknown field 'colour'"),
    ("POST", "/payments", b'{"reference": "A", "status": "PAID"}', 400, "status: must be one"),
    ("POST", "/payments", b'{"reference": "A", "status": "UNKNOWN"}', 400, "status"),
    ("POST", "/payments", b'{"reference": "A", "status": 3}', 400, "status"),
    ("POST", "/payments", b'{"reference": "A", "country": "EGY"}', 400, "country"),
    ("POST", "/payments", b'{"reference": "A", "amount": 400}', 400, "amount"),
    (
        "POST",
        "/payments",
        b'{"reference": "A", "amount": {"total": -1, "currency": "EGP"}}',
        400,
        "total",
    ),
    (
        "POST",
        "/payments",
        b'{"reference": "A", "amount": {"total": 1.5, "currency": "EGP"}}',
        400,
        "total",
    ),
    (
        "POST",
        "/payments",
        b'{"reference": "A", "amount": {"total": 1, "currency": 7}}',
        400,
        "currency",
    ),
    (
        "POST",
        "/payments",
        b'{"reference": "A", "amount": {"total": 1, "currency": "EURO"}}',
        400,
        "currency",
    ),
    ("POST", "/payments", b'{"reference": "A", "order_no": ""}', 400, "order_no"),
    ("POST", "/payments/NONE/status", b'{"status": "CLOSE"}', 404, "NONE"),
    ("POST", "/payments/NONE/status", b"{}", 400, "status: is required"),
    ("DELETE", "/payments/NONE", b"", 405, "not allowed"),
    ("POST", "/faults", b"{}", 400, "kind: is required"),
    ("POST", "/faults", b'{"kind": "boom"}', 400, "kind: must be one of"),
    ("POST", "/faults", b'{"kind": ["drop"]}', 400, "kind"),
    ("POST", "/faults", b'{"kind": "drop", "count": -1}', 400, "count"),
    ("POST", "/faults", b'{"kind": "drop", "count": 2.5}', 400, "count"),
    ("POST", "/faults", b'{"kind": "drop", "count": true}', 400, "count"),
    ("POST", "/faults", b'{"kind": "drop", "count": 1e400}', 400, "count"),
    ("POST", "/faults", b'{"kind": "drop", "count": 99999999}', 400, "count"),
    ("POST", "/faults", b'{"kind": "drop", "after_close": "yes"}', 400, "after_close"),
    ("POST", "/faults", b'{"kind": "api_error", "code": 50003}', 400, "code"),
    ("POST", "/faults", b'{"kind": "api_error", "code": ""}', 400, "code"),
    ("POST", "/faults", b'{"kind": "api_error", "message": null}', 400, "message"),
    ("POST", "/faults", b'{"kind": "http_error", "status": 200}', 400, "status"),
    ("POST", "/faults", b'{"kind": "http_error", "status": "502"}', 400, "status"),
    (
        "POST",
        "/faults",
        b'{"kind": "http_error", "retry_after": "1\\r\\nX-Evil: 1"}',
        400,
        "retry_after",
    ),
    (
        "POST",
        "/faults",
        b'{"kind": "http_error", "content_type": "text/\\u00e9"}',
        400,
        "content_type",
    ),
    ("POST", "/fault-rates", b'{"drop": 1.5}', 400, "drop"),
    ("POST", "/fault-rates", b'{"drop": NaN}', 400, "drop"),
    ("POST", "/fault-rates", b'{"drop": "0.1"}', 400, "drop"),
    ("POST", "/fault-rates", b'{"drop": 0.6, "timeout": 0.6}', 400, "at most 1"),
    ("POST", "/fault-rates", b'{"seed": "x"}', 400, "seed"),
    ("POST", "/fault-rates", b'{"lightning": 0.1}', 400, "unknown field"),
    ("POST", "/latency", b"{}", 400, "seconds"),
    ("POST", "/latency", b'{"seconds": -1}', 400, "latency.seconds: "),
    ("POST", "/latency", b'{"seconds": Infinity}', 400, "latency.seconds: "),
    ("POST", "/latency", b'{"seconds": 100000}', 400, "latency.seconds: "),
    ("POST", "/latency", b'{"min": 0.5, "max": 0.1}', 400, "minimum <= maximum"),
    ("POST", "/latency", b'{"seconds": 1, "min": 0}', 400, "not both"),
    ("POST", "/settings", b'{"paid_answer": "refund"}', 400, "paid_answer"),
    ("POST", "/settings", b'{"auto_create": 1}', 400, "auto_create"),
    ("POST", "/reset", b'{"settings": "all"}', 400, "settings"),
    ("PUT", "/faults", b"{}", 405, "use GET, POST, DELETE"),
    ("GET", "/reset", b"", 405, "use POST"),
    ("GET", "/nowhere", b"", 404, "no admin path"),
    ("GET", "/payments/", b"", 200, None),
]


@pytest.mark.parametrize(("method", "route", "body", "status", "says"), HOSTILE)
async def test_bad_admin_input_answers_a_4xx_with_a_message(
    method: str, route: str, body: bytes, status: int, says: str | None
) -> None:
    fake = FakeOPay()
    async with httpx2.AsyncClient(transport=fake.transport, base_url="http://sim.test") as http:
        answer = await http.request(method, A + route, content=body)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    if says is not None:
        assert says in answer.json()["error"]
    if status == 405:
        assert answer.headers["allow"]
    assert fake.payments == []
    assert fake.pending_faults == 0
    assert fake.fault_rates.total == 0
    assert fake.request_count == 0


async def test_random_bytes_never_break_the_admin_api() -> None:
    fake = FakeOPay()
    routes = ["", "/payments", "/payments/X/status", "/faults", "/fault-rates", "/latency"]
    rng = random.Random(5)
    for _ in range(300):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        for route in routes:
            for method in ("GET", "POST", "DELETE", "PATCH"):
                reply = fake.handle(method, A + route, {}, body)
                assert 200 <= reply.status < 500, (method, route, body, reply)
                assert "error" in json.loads(reply.body) or reply.status < 300
