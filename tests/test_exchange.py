"""What each way of sending puts on the wire: the own pool (straight to its transport), a
caller's ``http_client``, a client around a caller's ``transport``."""

from __future__ import annotations

import json

import attrs
import httpx2
import pytest

import opay_async
from opay_async import OPayClient, OPayValidationError, SecretKey
from opay_async._http import make_exchange
from tests.helpers import MERCHANT_ID, SECRET_KEY, hx, stub_server, success

#: The headers every close carries, whichever way it is sent.
EXPECTED = {
    "content-type": "application/json",
    "accept": "application/json",
    "accept-encoding": "gzip, deflate",
    "user-agent": f"opay-async/{opay_async.__version__}",
    "merchantid": MERCHANT_ID,
}


def assert_sent_as_opay_documents(headers: dict[str, str]) -> None:
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (name, headers)
    assert headers["authorization"].startswith("Bearer ")


async def test_the_own_pool_sends_every_header_past_its_client() -> None:
    with stub_server(success) as server:
        async with OPayClient(
            MERCHANT_ID, SECRET_KEY, base_url=server.url, trust_env=False
        ) as opay:
            for reference in ("OWN-1", "OWN-2"):  # the second from the URL cache
                assert (await opay.close_payment(reference=reference, country="EG")).is_closed
    assert len(server.headers) == 2
    for headers in server.headers:
        assert_sent_as_opay_documents(headers)


async def test_a_callers_client_sends_the_sdks_headers_too() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append({name.lower(): value for name, value in request.headers.items()})
        return hx.Response(200, json=success(json.loads(request.content)))

    async with hx.AsyncClient(transport=hx.MockTransport(handler)) as http:
        opay = OPayClient(MERCHANT_ID, SECRET_KEY, http_client=http)
        assert (await opay.close_payment(reference="BORROWED-1", country="EG")).is_closed
        await opay.aclose()
    assert len(seen) == 1
    assert_sent_as_opay_documents(seen[0])


async def test_a_callers_transport_is_used_whatever_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The client made around the transport reads no proxy from the environment.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return hx.Response(200, json=success(json.loads(request.content)))

    async with OPayClient(MERCHANT_ID, SECRET_KEY, transport=hx.MockTransport(handler)) as opay:
        assert (await opay.close_payment(reference="T-1", country="EG")).is_closed
    assert seen == ["https://sandboxapi.opaycheckout.com/api/v1/international/payment/close"]


def test_an_http_client_and_a_transport_together_are_refused() -> None:
    with pytest.raises(OPayValidationError) as caught:
        OPayClient(
            MERCHANT_ID,
            SECRET_KEY,
            http_client=hx.AsyncClient(),
            transport=hx.MockTransport(lambda request: hx.Response(200)),
        )
    assert caught.value.field == "transport"
    assert str(caught.value) == "transport: give http_client or transport, not both"


async def test_the_own_pool_through_a_proxy_sends_every_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With a proxy route the own pool sends through its client, not past it: the stub
    # server is the proxy (it answers whatever it is asked), OPay's host is nowhere.
    with stub_server(success) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with OPayClient(
            MERCHANT_ID, SECRET_KEY, base_url="http://127.0.0.1:9", trust_env=True
        ) as opay:
            assert (await opay.close_payment(reference="PROXIED-1", country="EG")).is_closed
    assert len(proxy.headers) == 1
    assert_sent_as_opay_documents(proxy.headers[0])


class Direct:
    """The own pool of one loop, as ``Exchange`` asks for it: a client and its transport."""

    def __init__(self, http: httpx2.AsyncClient, direct: httpx2.AsyncBaseTransport) -> None:
        self.route = (http, direct)
        self.is_closed = False

    async def get(self) -> tuple[httpx2.AsyncClient, httpx2.AsyncBaseTransport]:
        return self.route

    async def aclose(self) -> None:
        """Nothing to close here."""


async def test_a_request_sent_past_the_own_pools_client_keeps_its_timeouts() -> None:
    # Connecting is capped at 5 s whatever the client's timeout; the rest take all of it.
    seen: list[dict[str, object]] = []

    class Recording(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            seen.append(dict(request.extensions["timeout"]))
            return httpx2.Response(200, json=success(json.loads(request.content)))

    exchange = make_exchange(
        merchant_id=MERCHANT_ID,
        secret_key=SecretKey(SECRET_KEY),
        timeout=30.0,
        headers={},
        http_client=None,
        transport=None,
        backend="httpx2",
        max_connections=10,
        trust_env=False,
    )
    direct = Recording()
    async with httpx2.AsyncClient(transport=direct) as http:
        exchange = attrs.evolve(exchange, connections=Direct(http, direct))
        body = b'{"country":"EG","reference":"T-9"}'
        answer = await exchange.post("https://opay.test/close", body)
        await exchange.with_timeout(2.0).post("https://opay.test/close", body)
    assert answer.status_code == 200
    assert seen == [
        {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 30.0},
        {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0},
    ]
