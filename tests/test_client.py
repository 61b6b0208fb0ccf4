"""Client lifecycle, configuration, routing, logging, secrets and the connection pool."""

from __future__ import annotations

import logging
import re
import sys

import pytest

from opay_async import (
    CloseRequest,
    OPayClient,
    OPayError,
    OPayValidationError,
    PaymentNotFoundError,
    RetryPolicy,
    ShardedTransport,
)
from opay_async._clock import VirtualClock
from opay_async._http._pool import PoolRoute
from tests.helpers import MERCHANT_ID, SECRET_KEY, LoopbackOPay, ScriptedOPay, hx, own_pool

SIGNATURE = re.compile(r"[0-9a-f]{128}")


# -- lifecycle ------------------------------------------------------------------------


async def test_a_borrowed_http_client_stays_open() -> None:
    async with hx.AsyncClient(transport=hx.MockTransport(ScriptedOPay())) as http:
        async with OPayClient(MERCHANT_ID, SECRET_KEY, http_client=http) as opay:
            await opay.close_payment(reference="R-1", country="EG")
        assert opay.is_closed
        assert not http.is_closed
        async with OPayClient(MERCHANT_ID, SECRET_KEY, http_client=http) as again:
            assert (await again.close_payment(reference="R-2", country="EG")).is_closed


async def test_the_owned_http_client_is_closed() -> None:
    opay = OPayClient(MERCHANT_ID, SECRET_KEY)
    async with opay:
        http = await own_pool(opay)
    assert http.is_closed


async def test_a_closed_client_raises_an_opay_error_whatever_is_called() -> None:
    recorder = ScriptedOPay()
    opay = recorder.client()
    await opay.aclose()
    calls = [
        lambda: opay.close_payment(reference="R-1", country="EG"),
        lambda: opay.try_close(CloseRequest(reference="R-1", country="EG")),
        lambda: opay.close_many(["R-1"], country="EG"),
    ]
    for call in calls:
        with pytest.raises(OPayError, match="OPayClient is closed"):
            await call()
    with pytest.raises(OPayError, match="OPayClient is closed"):
        opay.iter_close_many(["R-1"], country="EG")  # at the call, before any iteration
    assert recorder.sent == 0


async def test_a_closed_borrowed_client_answers_with_an_opay_error() -> None:
    http = hx.AsyncClient(transport=hx.MockTransport(ScriptedOPay()))
    await http.aclose()
    opay = OPayClient(MERCHANT_ID, SECRET_KEY, http_client=http)
    with pytest.raises(OPayError, match="http_client given to this OPayClient is closed"):
        await opay.close_payment(reference="R-1", country="EG")


async def test_close_returns_an_outcome_and_never_raises_opay_errors() -> None:
    recorder = ScriptedOPay(
        hx.Response(200, json={"code": "02006", "message": "payment not found."})
    )
    async with recorder.client() as opay:
        failed = await opay.try_close(CloseRequest(reference="R-1", country="EG"))
        closed = await opay.try_close(CloseRequest(reference="R-2", country="EG"))
    assert isinstance(failed.error, PaymentNotFoundError)
    assert (failed.ok, failed.attempts, failed.payment) == (False, 1, None)
    assert closed.ok
    assert closed.payment is not None
    assert closed.payment.reference == "R-2"


# -- configuration ----------------------------------------------------------------------


def test_from_env_reads_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPAY_MERCHANT_ID", MERCHANT_ID)
    monkeypatch.setenv("OPAY_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("OPAY_ENVIRONMENT", " Production ")
    opay = OPayClient.from_env()
    assert opay.merchant_id == MERCHANT_ID
    assert opay.url_for("EG").startswith("https://api.opaycheckout.com/")
    monkeypatch.setenv("OPAY_BASE_URL", "http://127.0.0.1:9999")
    assert OPayClient.from_env().url_for("NG").startswith("http://127.0.0.1:9999/")


def test_from_env_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPAY_MERCHANT_ID", "111")
    monkeypatch.setenv("OPAY_SECRET_KEY", SECRET_KEY)
    opay = OPayClient.from_env(merchant_id="222", environment="production", timeout=5.0)
    assert opay.merchant_id == "222"
    assert "environment='production'" in repr(opay)


@pytest.mark.parametrize(
    ("present", "missing"),
    [("OPAY_SECRET_KEY", "OPAY_MERCHANT_ID"), ("OPAY_MERCHANT_ID", "OPAY_SECRET_KEY")],
)
def test_from_env_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, present: str, missing: str
) -> None:
    monkeypatch.delenv(missing, raising=False)
    monkeypatch.setenv(present, SECRET_KEY if present == "OPAY_SECRET_KEY" else MERCHANT_ID)
    with pytest.raises(OPayValidationError, match=missing):
        OPayClient.from_env()


def test_from_env_checks_the_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPAY_MERCHANT_ID", MERCHANT_ID)
    monkeypatch.setenv("OPAY_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("OPAY_ENVIRONMENT", "staging")
    with pytest.raises(OPayValidationError, match="environment"):
        OPayClient.from_env()


@pytest.mark.parametrize(
    ("environment", "country", "host"),
    [
        ("sandbox", "EG", "sandboxapi.opaycheckout.com"),
        ("production", "EG", "api.opaycheckout.com"),
        ("sandbox", "NG", "testapi.opaycheckout.com"),
        ("production", "NG", "liveapi.opaycheckout.com"),
        ("production", "KE", "liveapi.opaycheckout.com"),
    ],
)
async def test_requests_are_routed_by_environment_and_country(
    environment: str, country: str, host: str
) -> None:
    recorder = ScriptedOPay()
    async with recorder.client(environment=environment) as opay:
        await opay.close_payment(reference="R-1", country=country)
    assert recorder.requests[0].url.host == host
    assert recorder.requests[0].url.scheme == "https"


async def test_base_url_overrides_the_routing() -> None:
    recorder = ScriptedOPay()
    async with recorder.client(base_url="https://proxy.example.com/") as opay:
        await opay.close_payment(reference="R-1", country="EG")
        await opay.close_payment(reference="R-2", country="NG")
    assert {str(r.url) for r in recorder.requests} == {
        "https://proxy.example.com/api/v1/international/payment/close"
    }
    assert "base_url='https://proxy.example.com'" in repr(opay)


async def test_every_request_carries_the_client_timeouts() -> None:
    recorder = ScriptedOPay()
    async with recorder.client(timeout=12.0) as opay:
        await opay.close_payment(reference="R-1", country="EG")
    async with recorder.client(timeout=2.0) as opay:
        await opay.close_payment(reference="R-2", country="EG")
    first, second = (request.extensions["timeout"] for request in recorder.requests)
    assert first == {"connect": 5.0, "read": 12.0, "write": 12.0, "pool": 12.0}
    assert second == {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}


async def test_the_default_client_verifies_tls() -> None:
    opay = OPayClient(MERCHANT_ID, SECRET_KEY)
    transport = (await own_pool(opay))._transport
    assert isinstance(transport, PoolRoute)
    key = (None, "https", "x.test", None)  # direct, to an origin: as a request binds it
    shard = await transport._shards.acquire(key, transport._make)
    context = shard.transport._pool._ssl_context
    assert context.verify_mode.name == "CERT_REQUIRED"
    assert context.check_hostname
    transport._shards.release(shard)


async def test_the_aiohttp_backend_builds_and_closes() -> None:
    opay = OPayClient(MERCHANT_ID, SECRET_KEY, backend="aiohttp")
    transport = (await own_pool(opay))._transport
    assert isinstance(transport, PoolRoute)
    shard = await transport._shards.acquire((None, "https", "x.test", None), transport._make)
    assert type(shard.transport).__name__ == "AiohttpTransport"
    transport._shards.release(shard)
    await opay.aclose()


def test_the_aiohttp_backend_says_which_extra_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    with pytest.raises(OPayValidationError, match=r"pip install .*\[aiohttp\]"):
        OPayClient(MERCHANT_ID, SECRET_KEY, backend="aiohttp")


# -- secrets and logging ----------------------------------------------------------------


async def test_no_secret_or_signature_in_reprs_errors_or_debug_logs(
    caplog: pytest.LogCaptureFixture, opay_instant_retries: VirtualClock
) -> None:
    def echo_headers(request: hx.Request) -> hx.Response:
        # A misbehaving proxy that echoes the request headers in its error page.
        return hx.Response(502, text=f"bad gateway; you sent {dict(request.headers)} {SECRET_KEY}")

    recorder = ScriptedOPay(
        hx.Response(200, json={"code": "50003", "message": "busy"}),
        echo_headers,
        hx.Response(200, json={"code": "02000", "message": f"bad key {SECRET_KEY}"}),
    )
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="opay_async"):
        async with recorder.client(retry=RetryPolicy(attempts=2)) as opay:
            texts.append(repr(opay))
            for _ in range(2):
                try:
                    await opay.close_payment(reference="R-1", country="EG")
                except OPayError as error:
                    texts += [str(error), repr(error), error.message]
            await opay.close_payment(reference="R-2", country="EG")
    texts += [record.getMessage() for record in caplog.records]
    emitted = "\n".join(texts)
    assert recorder.sent == 4
    assert "[redacted]" in emitted
    assert SECRET_KEY not in emitted
    assert not SIGNATURE.search(emitted)
    for request in recorder.requests:
        assert request.headers["Authorization"][7:] not in emitted


async def test_one_debug_line_per_attempt(
    caplog: pytest.LogCaptureFixture, opay_instant_retries: VirtualClock
) -> None:
    recorder = ScriptedOPay(hx.Response(503, text="busy"))
    with caplog.at_level(logging.DEBUG, logger="opay_async"):
        async with recorder.client() as opay:
            await opay.close_payment(reference="R-9", country="EG")
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(lines) == 2
    assert all("reference=R-9" in line and "elapsed_ms=" in line for line in lines)
    assert "attempt=1" in lines[0]
    assert "OPayHTTPError" in lines[0]
    assert "attempt=2 outcome=CLOSE" in lines[1]


# -- the connection pool -------------------------------------------------------------


async def test_the_sharded_pool_uses_the_least_busy_shard_and_releases() -> None:
    server = LoopbackOPay(slow_seconds=0.05)
    async with server.running() as base_url:
        async with OPayClient(
            MERCHANT_ID, SECRET_KEY, base_url=base_url, max_connections=16
        ) as opay:
            transport = (await own_pool(opay))._transport
            assert isinstance(transport, PoolRoute)
            assert transport.shard_count == 4  # shards of 4: a few hosts or routes at once
            # Sequential calls reuse the first shard's warm connection.
            for number in range(3):
                await opay.close_payment(reference=f"ok-{number}", country="EG")
            assert server.open_connections == 1
            outcomes = await opay.close_many(
                [f"slow-{number}" for number in range(16)], country="EG", concurrency=16
            )
            assert all(o.ok for o in outcomes)
            assert transport.in_flight == 0
            busy = [len(s.transport._pool.connections) for s in transport._shards.shards]
            assert busy == [4, 4, 4, 4]  # the load was spread over every shard


def test_the_shards_hold_max_connections_exactly() -> None:
    assert ShardedTransport(max_connections=1).shard_count == 1
    assert ShardedTransport(max_connections=100, shard_size=10).shard_count == 10
    assert ShardedTransport(max_connections=101, shard_size=10).shard_count == 11
    for size in (1, 8, 10):
        assert ShardedTransport(max_connections=101, shard_size=size).max_connections == 101
