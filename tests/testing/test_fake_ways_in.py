"""The three ways to reach FakeOPay: httpx transport, ASGI app, real HTTP with uvicorn."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import httpx2
import pytest

from opay_async import (
    CLOSE_PATH,
    OPayClient,
    OPayConnectionError,
    OPayHTTPError,
    OPayResponseError,
    OPayTimeoutError,
    OPayValidationError,
    PaymentNotFoundError,
    ServiceUnavailableError,
)
from opay_async.testing import FakeOPay, FakeTransport, instant_retries
from tests.helpers import NO_RETRY, URL, body_of, signed_for

# -- fake.transport and fake.client() ------------------------------------------------------


async def test_an_sdk_client_on_an_http_client_of_ours() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="T-1", country="NG")
    assert isinstance(fake.transport, httpx2.AsyncBaseTransport)
    assert isinstance(fake.transport, FakeTransport)
    async with (
        httpx2.AsyncClient(transport=fake.transport) as http,
        OPayClient(
            fake.merchant_id, fake.secret_key, base_url="http://127.0.0.1:9", http_client=http
        ) as opay,
    ):
        assert (await opay.close_payment(reference="T-1", country="NG")).is_closed
        assert not http.is_closed  # borrowed: the SDK does not close it
    assert fake.requests[-1].verified


async def test_fake_client_owns_and_closes_its_http_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed: list[FakeTransport] = []

    async def aclose(transport: FakeTransport) -> None:  # httpx closes its transport
        closed.append(transport)

    monkeypatch.setattr(FakeTransport, "aclose", aclose)
    fake = FakeOPay(auto_create=True)
    opay = fake.client(timeout=5.0, retry=NO_RETRY)
    assert opay.merchant_id == fake.merchant_id
    async with opay:
        assert (await opay.close_payment(reference="C-1", country="EG")).is_closed
        assert closed == []
    assert opay.is_closed
    assert closed == [fake.transport]
    with pytest.raises(OPayValidationError, match="not both"):
        fake.client(http_client=httpx2.AsyncClient())


async def test_the_transport_passes_retry_after_and_content_type() -> None:
    fake = FakeOPay()
    fake.fail_next_http(
        status=429,
        body='{"error":"slow down"}',
        content_type="text/json",
        retry_after="Wed, 21 Oct 2015 07:28:00 GMT",
    )
    async with httpx2.AsyncClient(transport=fake.transport) as http:
        body = body_of(country="EG", reference="X")
        answer = await http.post(URL, content=body, headers=signed_for(fake, body))
    assert answer.status_code == 429
    assert answer.headers["content-type"] == "text/json"
    assert answer.headers["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert answer.headers["content-length"] == str(len(answer.content))


# -- fake.app through httpx2.ASGITransport ----------------------------------------------------


def asgi_client(fake: FakeOPay, **options: Any) -> tuple[httpx2.AsyncClient, OPayClient]:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake.app))
    return http, OPayClient(fake.merchant_id, fake.secret_key, http_client=http, **options)


async def test_the_sdk_through_the_asgi_app() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="A-1", country="EG")
    http, opay = asgi_client(fake, retry=NO_RETRY)
    async with http, opay:
        assert (await opay.close_payment(reference="A-1", country="EG")).is_closed
        with pytest.raises(PaymentNotFoundError):
            await opay.close_payment(reference="A-2", country="EG")
        fake.fail_next()
        with pytest.raises(ServiceUnavailableError):
            await opay.close_payment(reference="A-1", country="EG")
        fake.fail_next_http(retry_after=1)
        with pytest.raises(OPayHTTPError) as caught:
            await opay.close_payment(reference="A-1", country="EG")
        assert (caught.value.status_code, caught.value.retry_after) == (502, 1.0)
        fake.malformed_next()
        with pytest.raises(OPayResponseError):
            await opay.close_payment(reference="A-1", country="EG")
        assert (await http.get("https://x.test" + CLOSE_PATH)).status_code == 405
        assert (await http.post("https://x.test/nowhere", content=b"{}")).status_code == 404
    assert fake.requests[0].verified
    assert [seen.code for seen in fake.requests[:2]] == ["00000", "02006"]


async def test_a_drop_through_the_asgi_app_is_a_connection_error() -> None:
    fake = FakeOPay(auto_create=True)
    fake.drop_next()
    http, opay = asgi_client(fake, retry=NO_RETRY)
    async with http, opay:
        with pytest.raises(OPayConnectionError):
            await opay.close_payment(reference="A-1", country="EG")
        assert fake.closed_count == 0
        fake.drop_next(after_close=True)
        with instant_retries():
            async with OPayClient(fake.merchant_id, fake.secret_key, http_client=http) as retrying:
                assert (await retrying.close_payment(reference="A-2", country="EG")).is_closed
    assert fake.closed_count == 1


async def test_a_timeout_through_the_asgi_app_waits_for_the_client_to_give_up() -> None:
    fake = FakeOPay(auto_create=True)
    fake.timeout_next()
    http, opay = asgi_client(fake, retry=NO_RETRY, timeout=0.05)
    async with http, opay:
        with pytest.raises(OPayTimeoutError):
            await opay.close_payment(reference="A-1", country="EG")
        assert (await opay.close_payment(reference="A-1", country="EG")).is_closed


async def test_the_asgi_app_supports_lifespan_and_ignores_other_scopes() -> None:
    fake = FakeOPay()
    sent: list[MutableMapping[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await fake.app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    await fake.app({"type": "websocket"}, receive, send)
    assert len(sent) == 2


async def test_the_asgi_app_reads_a_body_sent_in_chunks() -> None:
    fake = FakeOPay(auto_create=True)
    body = body_of(country="EG", reference="CHUNKS")
    headers = [(k.lower().encode(), v.encode()) for k, v in signed_for(fake, body).items()]
    chunks = iter(
        [
            {"type": "http.request", "body": body[:10], "more_body": True},
            {"type": "http.request", "body": body[10:], "more_body": False},
        ]
    )
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(chunks)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": CLOSE_PATH, "headers": headers}
    await fake.app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert b'"orderStatus":"CLOSE"' in sent[1]["body"]


async def test_the_asgi_app_answers_nothing_to_a_client_gone_mid_body() -> None:
    fake = FakeOPay(auto_create=True)
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"country":', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": CLOSE_PATH, "headers": []}
    await fake.app(scope, receive, send)
    assert sent == []
    assert fake.request_count == 0


# -- fake.serve(): real HTTP on loopback ----------------------------------------------------


async def test_served_over_real_http() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="H-1", country="NG")
    async with fake.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with OPayClient(
            fake.merchant_id, fake.secret_key, base_url=base_url, retry=NO_RETRY
        ) as opay:
            assert (await opay.close_payment(reference="H-1", country="NG")).is_closed
            with pytest.raises(PaymentNotFoundError):
                await opay.close_payment(reference="H-2", country="NG")
        async with httpx2.AsyncClient(base_url=base_url) as http:
            assert (await http.get(CLOSE_PATH)).status_code == 405
            assert (await http.post("/", content=b"{}")).status_code == 404
    seen = fake.requests[0]
    assert seen.verified
    assert seen.content_type == "application/json"


async def test_faults_over_real_http(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeOPay(auto_create=True)
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    async with fake.serve() as base_url:
        async with OPayClient(
            fake.merchant_id, fake.secret_key, base_url=base_url, timeout=0.3, retry=NO_RETRY
        ) as opay:
            fake.drop_next()
            with pytest.raises(OPayConnectionError):
                await opay.close_payment(reference="H-1", country="NG")
            fake.timeout_next(after_close=True)
            with pytest.raises(OPayTimeoutError):
                await opay.close_payment(reference="H-2", country="NG")
            assert fake.payment(reference="H-2").is_closed
            fake.fail_next_http(status=503, retry_after=3)
            with pytest.raises(OPayHTTPError) as caught:
                await opay.close_payment(reference="H-3", country="NG")
            assert (caught.value.status_code, caught.value.retry_after) == (503, 3.0)
            fake.malformed_next()
            with pytest.raises(OPayResponseError):
                await opay.close_payment(reference="H-3", country="NG")
            assert (await opay.close_payment(reference="H-1", country="NG")).is_closed
    assert fake.closed_count == 2
    # A simulated drop is not reported as an application error by uvicorn.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_serving_on_a_taken_port_fails_clearly() -> None:
    fake = FakeOPay()
    async with fake.serve() as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with pytest.raises(OPayValidationError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with FakeOPay().serve(port=port):
                pass


async def test_serving_without_uvicorn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now fails
    with pytest.raises(OPayValidationError, match=r"pip install .*\[simulator\]"):
        async with FakeOPay().serve():
            pass


async def test_served_answers_are_not_held_back_by_delayed_acks() -> None:
    # Without TCP_NODELAY on the accepted connections, each answer's body waited for the
    # client's delayed ACK: about 44 ms a request, whatever the simulator's latency.
    fake = FakeOPay(auto_create=True)
    async with fake.serve() as base_url:
        async with OPayClient(
            fake.merchant_id, fake.secret_key, base_url=base_url, retry=NO_RETRY
        ) as opay:
            await opay.close_payment(reference="WARM-1", country="EG")
            started = time.perf_counter()
            for number in range(20):
                await opay.close_payment(reference=f"FAST-{number}", country="EG")
            each = (time.perf_counter() - started) / 20
    assert each < 0.02, f"{each * 1000:.1f} ms a sequential close"
