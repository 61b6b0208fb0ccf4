"""``max_connections`` on real sockets: 10,000 closes gathered at once never open more.

A counting server on 127.0.0.1 answers OPay's success for the reference it was sent
and counts the sockets open and the requests in flight at once. It is an HTTP forward
proxy too: a request in absolute form (``POST http://host:port/path``), which is what a
client sends through a proxy to an ``http://`` origin, is answered the same way and
counted as proxied. So one server sees every socket of the client, on every route.

The client's own pool keeps one limit for all its routes: direct, through the proxy
from ``HTTP_PROXY``, both at once (one origin direct by ``NO_PROXY``, one through the
proxy), and two origins on one route (aiohttp's own limit does not count the idle
connections of one host against another's: the SDK's must).
"""

from __future__ import annotations

import asyncio
import json
from typing import Final

import attrs
import pytest

from opay_async import CLOSE_PATH, OPayClient, RetryPolicy
from tests.helpers import MERCHANT_ID, SECRET_KEY, RawServer, http_head, read_request, success

BACKENDS: Final = ("httpx2", "aiohttp")
CLOSES: Final = 10_000


class CountingOPay:
    """A ``RawServer`` handler: OPay, and a forward proxy to it, counting what is open."""

    def __init__(self) -> None:
        self.sockets = self.peak_sockets = self.accepted = 0
        self.requests = self.peak_requests = 0
        self.proxied = self.direct = 0
        self.hosts: set[bytes] = set()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.sockets += 1
        self.peak_sockets = max(self.peak_sockets, self.sockets)
        try:
            while True:
                try:
                    head, body = await read_request(reader)
                except asyncio.IncompleteReadError:
                    return  # the client closed the connection
                await self._answer(head, body, writer)
        finally:
            self.sockets -= 1

    async def _answer(self, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        target = head.split(b" ", 2)[1]
        if target.startswith(b"http://"):  # absolute form: sent to us as a proxy
            self.proxied += 1
            self.hosts.add(target.split(b"/", 3)[2])
        else:
            self.direct += 1
        self.requests += 1
        self.peak_requests = max(self.peak_requests, self.requests)
        try:
            await asyncio.sleep(0)  # answered a turn later: requests sent together overlap
            payload = json.dumps(success(json.loads(body))).encode()
        finally:
            self.requests -= 1
        head = http_head(200, Content_Type="application/json", Content_Length=str(len(payload)))
        writer.write(head + payload)
        await writer.drain()


def route_by_country(opay: OPayClient, urls: dict[str, str]) -> None:
    """Send each country's closes to its own URL (a base URL sends every country to one)."""
    opay._sender = attrs.evolve(opay._sender, url_for=lambda country: urls[country] + CLOSE_PATH)


#: Every route at 1, 10 and 100; two origins on one route not at 1, where they take
#: turns exactly as two routes do (10,000 connections one after another, ~15 s a backend).
CASES: Final = [
    (route, limit)
    for route in ("direct", "proxy", "two routes", "two origins")
    for limit in (1, 10, 100)
    if (route, limit) != ("two origins", 1)
]


@pytest.mark.parametrize(("route", "limit"), CASES)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_ten_thousand_closes_never_open_more_than_max_connections(
    backend: str, route: str, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = CountingOPay()
    # The first connection's answer waits behind the first step of 10,000 tasks: under
    # coverage, on a loaded 2-core machine, past the 5 s connect timeout (seen once).
    monkeypatch.setattr("opay_async._http._exchange.CONNECT_TIMEOUT", 600.0)
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.lower(), raising=False)
    async with RawServer(server).running() as url:
        other = url.replace("127.0.0.1", "localhost")  # another origin, the same server
        if route in ("proxy", "two routes"):
            monkeypatch.setenv("HTTP_PROXY", url)
        if route == "two routes":
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # 127.0.0.1 direct, localhost proxied
        opay = OPayClient(
            MERCHANT_ID,
            SECRET_KEY,
            base_url=url,
            backend=backend,  # type: ignore[arg-type]
            max_connections=limit,
            retry=RetryPolicy.none(),
            timeout=600,  # an attempt's time counts its wait for a connection: 10,000 queue
        )
        both = route in ("two routes", "two origins")
        if both:
            route_by_country(opay, {"EG": url, "NG": other})
        async with opay:
            payments = await asyncio.gather(
                *(
                    opay.close_payment(
                        reference=f"LIMIT-{number}", country="NG" if both and number % 2 else "EG"
                    )
                    for number in range(CLOSES)
                )
            )
    assert [payment.reference for payment in payments] == [f"LIMIT-{n}" for n in range(CLOSES)]
    assert all(payment.is_closed for payment in payments)
    print(
        f"\n{backend}, {route}, max_connections={limit}: {server.peak_sockets} sockets and "
        f"{server.peak_requests} requests at once at most, {server.accepted} accepted"
    )
    assert server.peak_sockets <= limit
    assert server.peak_requests <= limit
    assert server.peak_sockets == limit  # and the pool uses all it may
    expected_proxied = {"direct": 0, "proxy": CLOSES, "two routes": CLOSES // 2}
    assert server.proxied == expected_proxied.get(route, 0)
    assert server.direct == CLOSES - server.proxied
    if route == "two routes":
        assert server.hosts == {other.removeprefix("http://").encode()}
    if route in ("direct", "proxy"):
        assert server.accepted == limit  # one route, one key: no connection is ever replaced
