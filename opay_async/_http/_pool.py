"""A connection pool that stays fast with many connections: several small httpx2 pools.

httpcore2's pool does work on every request that grows with the number of connections
and waiting requests it holds, so one pool of 100 connections spends most of its time
managing itself at high concurrency. Splitting the same connections over shards of a
few connections each keeps that work small. Each request goes to the shard with the
fewest requests in flight (the first such shard, so light traffic reuses one shard's
warm connections).
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator
from typing import Final, Literal, cast

import httpx2

from .._errors import OPayValidationError
from .._validation import MAX_CONNECTIONS, number

__all__ = ["DEFAULT_SHARD_SIZE", "ShardedTransport"]

#: Connections per shard: small enough for cheap pool bookkeeping, large enough to reuse.
DEFAULT_SHARD_SIZE: Final = 8


class _ReleasingStream(httpx2.AsyncByteStream):
    """Wraps a response body; tells the shard its request is done when closed."""

    __slots__ = ("_released", "_shard", "_stream")

    def __init__(self, stream: httpx2.AsyncByteStream, shard: _Shard) -> None:
        self._stream = stream
        self._shard = shard
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if not self._released:
                self._released = True
                self._shard.in_flight -= 1


class _Shard:
    __slots__ = ("in_flight", "transport")

    def __init__(self, transport: httpx2.AsyncHTTPTransport) -> None:
        self.transport = transport
        self.in_flight = 0


def _verifying_context(verify: object) -> ssl.SSLContext:
    if verify is True:
        return httpx2.create_ssl_context(trust_env=False)
    if isinstance(verify, ssl.SSLContext):
        return verify
    raise OPayValidationError(
        "verify",
        "certificate verification cannot be turned off; "
        "pass an ssl.SSLContext to trust other certificate authorities",
    )


class ShardedTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport spreading ``max_connections`` over small connection pools.

    Args:
        max_connections: Connections in all (rounded up to whole shards), 1 to 10,000.
        shard_size: Connections per shard, 1 to 10,000.
        verify: ``True`` for a verifying context on the system's certificate authorities, or an
            ``ssl.SSLContext`` of yours (e.g. trusting your company's CA). There is no
            way to turn certificate verification off: ``False`` is refused.
        proxy: Send every request through this proxy (``http://host:port``).

    Raises:
        OPayValidationError: ``verify`` is not ``True`` or an ``ssl.SSLContext``, or a
            number is out of range.

    Examples:
        >>> transport = ShardedTransport(max_connections=100)
        >>> transport.shard_count
        13
        >>> ShardedTransport(verify=False)
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: verify: certificate verification cannot be \
turned off; pass an ssl.SSLContext to trust other certificate authorities
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        shard_size: int = DEFAULT_SHARD_SIZE,
        verify: ssl.SSLContext | Literal[True] = True,
        proxy: str | httpx2.Proxy | None = None,
    ) -> None:
        self._shards: tuple[_Shard, ...] = ()
        context = _verifying_context(verify)
        connections = number(
            "max_connections", max_connections, integer=True, at_least=1, at_most=MAX_CONNECTIONS
        )
        size = number("shard_size", shard_size, integer=True, at_least=1, at_most=MAX_CONNECTIONS)
        count = math.ceil(connections / size)
        limits = httpx2.Limits(max_connections=shard_size, max_keepalive_connections=shard_size)
        self._shards = tuple(
            _Shard(httpx2.AsyncHTTPTransport(verify=context, limits=limits, proxy=proxy))
            for _ in range(count)
        )

    def __repr__(self) -> str:
        shards = getattr(self, "_shards", ())  # also before __init__ has run
        in_flight = sum(shard.in_flight for shard in shards)
        return f"ShardedTransport(shards={len(shards)}, in_flight={in_flight})"

    @property
    def shard_count(self) -> int:
        """How many small pools this transport holds."""
        return len(self._shards)

    @property
    def in_flight(self) -> int:
        """Requests sent whose answers are not yet closed."""
        return sum(shard.in_flight for shard in self._shards)

    def _pick(self) -> _Shard:
        best = self._shards[0]
        if best.in_flight == 0:
            return best
        for shard in self._shards:
            if shard.in_flight < best.in_flight:
                best = shard
                if not best.in_flight:
                    break
        return best

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` through the least busy shard."""
        shard = self._pick()
        shard.in_flight += 1
        try:
            response = await shard.transport.handle_async_request(request)
        except BaseException:
            shard.in_flight -= 1
            raise
        response.stream = _ReleasingStream(cast("httpx2.AsyncByteStream", response.stream), shard)
        return response

    async def aclose(self) -> None:
        """Close every shard's connections."""
        for shard in self._shards:
            await shard.transport.aclose()
