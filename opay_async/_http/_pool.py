"""A connection pool that stays fast with many connections, and holds its limit exactly.

httpcore2's pool does work on every request that grows with the number of connections
and waiting requests it holds, so one pool of 100 connections spends most of its time
managing itself at high concurrency. Splitting the same connections over shards of a
few connections each keeps that work small (see ``_shards``: the shards' capacities add
up to exactly ``max_connections``, whatever routes and origins the requests go to).

A `PoolRoute` is one route into a `ShardPool`: direct, or through one proxy. The
client's own pool is one `ShardPool` per event loop with a `PoolRoute` for the direct
route and one per proxy, so every route together stays within ``max_connections``.
`ShardedTransport`, public, is a `PoolRoute` with a pool of its own.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Hashable
from typing import Final, Literal, cast

import httpx2

from .._errors import OPayValidationError
from .._validation import MAX_CONNECTIONS, number
from ._shards import Maker, Shard, ShardPool

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "MIN_SHARDS",
    "PoolRoute",
    "ShardedTransport",
    "httpx2_maker",
    "own_capacities",
    "shard_capacities",
]

#: Connections per shard: small enough for cheap pool bookkeeping, large enough to reuse.
DEFAULT_SHARD_SIZE: Final = 8
#: Shards the own pool has at least (as long as it has a connection for each): a few
#: routes and hosts (OPay's two, direct and through a proxy) each have one at once,
#: without one waiting for another's to empty.
MIN_SHARDS: Final = 4


def _even(total: int, count: int) -> tuple[int, ...]:
    """``total`` over ``count`` shards, none holding more than one more than another."""
    least, more = divmod(total, count)  # ``more`` shards hold one more than ``least``
    return (least + 1,) * more + (least,) * (count - more)


def shard_capacities(max_connections: object, shard_size: object) -> tuple[int, ...]:
    """The capacity of each shard: as few shards as ``shard_size`` allows, evened out.

    Raises:
        OPayValidationError: A number is not a whole number from 1 to 10,000.

    Examples:
        >>> shard_capacities(100, 8)
        (8, 8, 8, 8, 8, 8, 8, 8, 8, 7, 7, 7, 7)
        >>> shard_capacities(1, 8), shard_capacities(16, 8), shard_capacities(10, 3)
        ((1,), (8, 8), (3, 3, 2, 2))
    """
    total = number(
        "max_connections", max_connections, integer=True, at_least=1, at_most=MAX_CONNECTIONS
    )
    size = number("shard_size", shard_size, integer=True, at_least=1, at_most=MAX_CONNECTIONS)
    return _even(int(total), -(-int(total) // int(size)))


def own_capacities(max_connections: int) -> tuple[int, ...]:
    """The own pool's shards: `DEFAULT_SHARD_SIZE` connections at most, `MIN_SHARDS` at least.

    Examples:
        >>> own_capacities(100)[:3], own_capacities(10), own_capacities(5), own_capacities(2)
        ((8, 8, 8), (3, 3, 2, 2), (2, 1, 1, 1), (1, 1))
    """
    count = max(-(-max_connections // DEFAULT_SHARD_SIZE), min(max_connections, MIN_SHARDS))
    return _even(max_connections, count)


class _ReleasingStream(httpx2.AsyncByteStream):
    """Wraps a response body; gives its shard's room back when closed."""

    __slots__ = ("_pool", "_released", "_shard", "_stream")

    def __init__(self, stream: httpx2.AsyncByteStream, pool: ShardPool, shard: Shard) -> None:
        self._stream = stream
        self._pool = pool
        self._shard = shard
        self._released = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # the body's own: no frame of ours per chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if not self._released:
                self._released = True
                self._pool.release(self._shard)


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


def httpx2_maker(context: ssl.SSLContext, proxy: str | httpx2.Proxy | None) -> Maker:
    """Makes a shard's httpx2 transport: ``capacity`` connections at most, kept alive."""

    def make(capacity: int) -> httpx2.AsyncBaseTransport:
        limits = httpx2.Limits(max_connections=capacity, max_keepalive_connections=capacity)
        return httpx2.AsyncHTTPTransport(verify=context, limits=limits, proxy=proxy)

    return make


class PoolRoute(httpx2.AsyncBaseTransport):
    """An httpx2 transport sending through a `ShardPool`, by one route.

    A shard serves one route and one origin (scheme, host, port) at a time. One origin:
    aiohttp's own limit counts only the connections in use, so the idle connections of
    one host are not counted against another's; and httpcore2's pool, full, closes an
    idle connection of one host to open one to another (two OPay hosts mixed in one
    run would reconnect all the time).

    Args:
        pool: The shards, shared by every route of one pool.
        route: What tells this route from the pool's others (``None``: direct).
        make: Makes a shard's transport for this route.
    """

    def __init__(self, pool: ShardPool, route: Hashable, make: Maker) -> None:
        self._shards = pool
        self._route = route
        self._make = make

    def __repr__(self) -> str:
        pool: ShardPool | None = getattr(self, "_shards", None)  # also before __init__ ran
        shards, in_flight = (0, 0) if pool is None else (len(pool.shards), pool.in_flight)
        return f"{type(self).__name__}(shards={shards}, in_flight={in_flight})"

    @property
    def shard_count(self) -> int:
        """How many small pools the connections are spread over."""
        return len(self._shards.shards)

    @property
    def max_connections(self) -> int:
        """Connections open, and requests in flight, at most: the shards' capacities' sum."""
        return self._shards.capacity

    @property
    def in_flight(self) -> int:
        """Requests sent (by any route of the pool) whose answers are not yet closed."""
        return self._shards.in_flight

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` through a shard of this route with room (waiting for one)."""
        url = request.url
        key = (self._route, url.scheme, url.host, url.port)
        pool = self._shards
        shard = pool.take(key, self._make)
        if shard is None or shard.retired is not None:
            shard = await pool.ready(shard, key, self._make)
        transport = shard.transport
        assert transport is not None  # bound before it was given
        try:
            response = await transport.handle_async_request(request)
        except BaseException:
            pool.release(shard)
            raise
        if response.is_closed:  # read and closed already (an in-process transport's)
            pool.release(shard)
            return response
        response.stream = _ReleasingStream(
            cast("httpx2.AsyncByteStream", response.stream), pool, shard
        )
        return response

    async def aclose(self) -> None:
        """Close every shard's connections (those of the pool's other routes too)."""
        await self._shards.aclose()


class ShardedTransport(PoolRoute):
    """An ``httpx2`` transport spreading ``max_connections`` over small connection pools.

    At most ``max_connections`` connections are open, and requests in flight, at any
    time: as few shards as ``shard_size`` allows share them out evenly (100 in shards of
    8: nine of 8 and four of 7). Requests beyond that wait, first come first served. A
    shard serves one host at a time (see ``_shards``).

    Args:
        max_connections: Connections in all, exactly, 1 to 10,000.
        shard_size: Connections per shard at most, 1 to 10,000.
        verify: ``True`` for a verifying context on the system's certificate authorities, or an
            ``ssl.SSLContext`` of yours (e.g. trusting your company's CA). There is no
            way to turn certificate verification off: ``False`` is refused.
        proxy: Send every request through this proxy (``http://host:port``).

    Raises:
        OPayValidationError: ``verify`` is not ``True`` or an ``ssl.SSLContext``, or a
            number is out of range.

    Examples:
        >>> transport = ShardedTransport(max_connections=100)
        >>> transport.shard_count, transport.max_connections
        (13, 100)
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
        context = _verifying_context(verify)
        pool = ShardPool(shard_capacities(max_connections, shard_size))
        super().__init__(pool, None, httpx2_maker(context, proxy))
