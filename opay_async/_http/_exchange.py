"""One HTTP exchange of a close: post the signed body, read a bounded answer.

An `Exchange` is built once per client (`make_exchange`) for the family of the client it
sends through: httpx2 for the SDK's own pool and for a caller's ``httpx2.AsyncClient``,
legacy httpx for a caller's ``httpx.AsyncClient``. Its URLs, headers, timeout and
signing ``Auth`` are that family's classes, made once; the rest of the SDK never sees
a family.
"""

from __future__ import annotations

from typing import Unpack

import attrs
import httpx2

from .._errors import Identity, OPayValidationError
from .._secret import SecretKey
from ._auth import OPaySignatureAuth, signing_auth
from ._connections import CONNECT_TIMEOUT, own_client_maker
from ._family import HTTPX2, Family, family_of
from ._loops import Borrowed, Connections, Owned, PerLoop
from ._reading import header, read_answer

__all__ = ["Answer", "Exchange", "make_exchange"]


@attrs.frozen
class Answer:
    """What came back: the status, the ``Retry-After`` header and the decoded body."""

    status_code: int
    retry_after: str | None
    content: bytes


def _http_timeout(exchange: Exchange) -> httpx2.Timeout | None:
    seconds = exchange.timeout
    if seconds is None:  # a caller's client's own timeouts apply
        return None
    return exchange.family.module.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds))


@attrs.frozen(kw_only=True)
class Exchange:
    """Posting a close through an ``AsyncClient`` of one family.

    Attributes:
        connections: Where the client of the running loop comes from.
        family: The client's httpx family.
        auth: Signs the exact body bytes (an ``Auth`` of ``family``).
        headers: Added to each request through a caller's ``http_client``; ``None``
            when the client carries them.
        timeout: Seconds for connecting (5 at most), writing and reading; ``None``
            through a caller's ``http_client``: that client's own timeouts apply.
        owned: Whether closing the ``OPayClient`` closes ``connections``.
        own_headers: The headers of a request that goes straight to the own pool's
            transport, past its client (which carries the same ones).
    """

    connections: Connections
    family: Family
    auth: OPaySignatureAuth
    headers: httpx2.Headers | None
    timeout: float | None
    owned: bool
    own_headers: httpx2.Headers | None = None
    _http_timeout: httpx2.Timeout | None = attrs.field(
        init=False, default=attrs.Factory(_http_timeout, takes_self=True)
    )
    _timeouts: dict[str, float | None] = attrs.field(  # the own pool's: never None there
        init=False,
        default=attrs.Factory(
            lambda self: {} if self._http_timeout is None else self._http_timeout.as_dict(),
            takes_self=True,
        ),
    )
    _urls: dict[str, httpx2.URL] = attrs.field(init=False, factory=dict[str, httpx2.URL])

    def with_timeout(self, timeout: float) -> Exchange:
        """The same exchange, over the same connections, with another timeout."""
        return attrs.evolve(self, timeout=timeout)

    async def post(self, url: str, body: bytes, **identity: Unpack[Identity]) -> Answer:
        """Send ``body`` to ``url``, signed; the answer is read whole, at most 1 MiB.

        Raises:
            OPayResponseError: The answer is too large or badly encoded.
            Exception: What the client raised (an exception of its family).
        """
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = self.family.module.URL(url)
        http, direct = await self.connections.get()
        if direct is not None:  # the own pool without proxy routes: no client in between
            request = httpx2.Request(
                "POST", parsed, headers=self.own_headers, content=body,
                extensions={"timeout": self._timeouts},
            )  # fmt: skip
            self.auth.sign(request)
            response = await direct.handle_async_request(request)
        else:
            if self._http_timeout is None:  # a caller's client, with its own timeouts
                request = http.build_request("POST", parsed, content=body, headers=self.headers)
            else:
                request = http.build_request(
                    "POST", parsed, content=body, headers=self.headers, timeout=self._http_timeout
                )
            response = await http.send(request, auth=self.auth, stream=True, follow_redirects=False)
        try:
            content = await read_answer(response, **identity)
        finally:
            await response.aclose()
        return Answer(response.status_code, header(response, b"retry-after"), content)


def make_exchange(
    *,
    merchant_id: str,
    secret_key: SecretKey,
    timeout: float | None,
    headers: dict[str, str],
    http_client: object,
    transport: object,
    backend: object,
    max_connections: int,
    trust_env: bool,
) -> Exchange:
    """The exchange of a client: through ``http_client``, ``transport`` or its own pool.

    ``timeout`` is ``None`` only with ``http_client``: that client's timeouts apply.

    Raises:
        OPayValidationError: ``http_client`` or ``transport`` is not of an httpx family,
            both are given, or the own pool's settings are bad.
    """
    if http_client is not None and transport is not None:
        raise OPayValidationError("transport", "give http_client or transport, not both")
    assert timeout is not None or http_client is not None
    connections: Connections
    own: httpx2.Headers | None = None
    if http_client is not None:
        family = family_of("http_client", http_client, kind="AsyncClient")
        connections = Borrowed(http_client)  # type: ignore[arg-type]  # checked just above
    elif transport is not None:
        family = family_of("transport", transport, kind="AsyncBaseTransport")
        connections = Owned(
            family.module.AsyncClient(
                transport=transport,  # type: ignore[arg-type]  # checked just above
                headers=headers,
                follow_redirects=False,
                trust_env=False,
            )
        )
    else:
        family = HTTPX2
        own = httpx2.Headers(headers)  # the client's, and those of requests sent past it
        connections = PerLoop(
            own_client_maker(
                backend=backend, max_connections=max_connections, trust_env=trust_env, headers=own
            )
        )
    return Exchange(
        connections=connections,
        family=family,
        auth=signing_auth(family, merchant_id, secret_key),
        headers=family.module.Headers(headers) if http_client is not None else None,
        timeout=timeout,
        owned=http_client is None,
        own_headers=own,
    )
