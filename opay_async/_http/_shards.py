"""Shards: ``max_connections`` split over small transports, each serving one key at a time.

A `ShardPool` holds shards whose capacities add up to exactly ``max_connections``.
Each shard holds one transport, made for one *key* (a route, direct or through a proxy,
and an origin) with a connection limit of the shard's capacity, and sends at most that
many requests at once through it. However requests
spread over keys, the sockets open and the requests in flight never exceed the sum of
the capacities.

A request for key K goes, in this order of preference, to

1. the least busy shard bound to K if nothing is in flight there (the first such
   shard, so light traffic reuses one shard's warm connections);
2. a shard not bound yet (it has no connections), before crowding a busy one;
3. K's least busy shard, if it has room;
4. a shard of another key with nothing in flight: it is rebound to K, and its old
   transport (holding only idle connections) is closed before the new one opens any;
5. else it waits, first come first served among K's requests.

A key that waits with no shard at all gets one: the least busy shard of another key
stops taking requests (it drains) and is rebound to it once empty, so no key starves
under another key's continuous traffic.

With one key (almost every deployment) a request costs what it cost before keys: a
dictionary look-up, the scan for the least busy shard, a comparison or two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Hashable
from typing import Final

import httpx2

from ._fork import forgotten, watch

__all__ = ["Maker", "Shard", "ShardPool"]

#: Makes a shard's transport for one key, given the shard's capacity.
Maker = Callable[[int], httpx2.AsyncBaseTransport]

#: The key of a shard bound to nothing, and what a shard not draining drains for.
_NOTHING: Final = object()


async def _retire(transport: httpx2.AsyncBaseTransport, before: asyncio.Task[None] | None) -> None:
    """Close a shard's previous transport (after the one before it, if still closing)."""
    if before is not None:
        await before
    with contextlib.suppress(Exception):  # a broken connection is gone anyway
        await transport.aclose()


class Shard:
    """One small transport: its capacity, what it is bound to, what is in flight.

    Attributes:
        capacity: Requests in flight (and connections) at most.
        room: Requests it may take now: its capacity less those given it and not yet
            released.
        key: What the transport was made for.
        transport: The transport; ``None`` until the shard is first bound.
        draining_for: The key this shard is being emptied for; it takes no new request.
        retired: Closing the transport of the key it was bound to before; requests wait
            for it before sending.
        live: Whether it is one of its pool's shards (not one a forked child forgot).
    """

    __slots__ = ("capacity", "draining_for", "key", "live", "retired", "room", "transport")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.room = capacity
        self.key: Hashable = _NOTHING
        self.transport: httpx2.AsyncBaseTransport | None = None
        self.draining_for: Hashable = _NOTHING
        self.retired: asyncio.Task[None] | None = None
        self.live = True

    @property
    def in_flight(self) -> int:
        """Requests given this shard and not yet released."""
        return self.capacity - self.room

    @property
    def draining(self) -> bool:
        """Whether the shard is being emptied for another key."""
        return self.draining_for is not _NOTHING


class _Waiter:
    __slots__ = ("future", "make", "queued")

    def __init__(self, future: asyncio.Future[Shard], make: Maker) -> None:
        self.future = future
        self.make = make
        self.queued = True


class ShardPool:
    """Shards of the given capacities, bound to keys as requests need them.

    Used from one event loop. ``make`` (given with each request) must make the same
    kind of transport for the same key. In a forked child it starts empty (see
    ``_fork``): the parent's transports are never used there, nor closed.

    Args:
        capacities: Each shard's capacity (see ``_pool.shard_capacities``).
    """

    __slots__ = ("__weakref__", "_accepting", "_drains", "_free", "_queued", "_waiters", "shards")

    def __init__(self, capacities: tuple[int, ...]) -> None:
        self._start(tuple(Shard(capacity) for capacity in capacities))
        watch(self)

    def _start(self, shards: tuple[Shard, ...]) -> None:
        self.shards = shards
        self._free = list(reversed(shards))  # never bound: pop() takes the first
        self._accepting: dict[Hashable, list[Shard]] = {}  # bound, taking requests
        self._waiters: dict[Hashable, deque[_Waiter]] = {}
        self._queued = 0  # waiters of all keys
        self._drains: set[Hashable] = set()  # keys a shard is being emptied for

    def after_fork(self) -> None:
        """In a forked child: start with unbound shards; the parent's are kept, unused."""
        for shard in self.shards:
            shard.live = False  # a request of the parent's that ends here gives room to none
        forgotten((self.shards, self._waiters))
        self._start(tuple(Shard(shard.capacity) for shard in self.shards))

    @property
    def capacity(self) -> int:
        """Requests in flight at most, and connections open at most: the shards' sum."""
        return sum(shard.capacity for shard in self.shards)

    @property
    def in_flight(self) -> int:
        """Requests given a shard and not yet released."""
        return sum(shard.in_flight for shard in self.shards)

    @property
    def waiting(self) -> int:
        """Requests waiting for room in a shard."""
        return self._queued

    async def acquire(self, key: Hashable, make: Maker) -> Shard:
        """A shard bound to ``key``, ready to send through, with this request counted.

        Release it with [`release`][opay_async._http._shards.ShardPool.release] once
        the request is done (its answer closed, or failed). The hot path calls
        [`take`][opay_async._http._shards.ShardPool.take] and
        [`ready`][opay_async._http._shards.ShardPool.ready] itself: no coroutine when
        a shard has room.
        """
        shard = self.take(key, make)
        if shard is None or shard.retired is not None:
            shard = await self.ready(shard, key, make)
        return shard

    async def ready(self, shard: Shard | None, key: Hashable, make: Maker) -> Shard:
        """``shard`` once its previous transport is closed; with ``None``, wait for room."""
        if shard is None:
            shard = await self._wait(key, make)
        retired = shard.retired
        if retired is not None:  # the transport it had before is still being closed
            try:
                await asyncio.shield(retired)
            except BaseException:
                self.release(shard)
                raise
            if shard.retired is retired:
                shard.retired = None
        return shard

    def release(self, shard: Shard) -> None:
        """One request of ``shard`` is done: its room goes to a waiter, if any."""
        shard.room += 1
        if self._queued:
            self._hand_on(shard)

    async def aclose(self) -> None:
        """Close every shard's transport (a later request opens connections anew)."""
        for shard in self.shards:
            if shard.retired is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(shard.retired)
            if shard.transport is not None:
                await shard.transport.aclose()

    # -- taking a shard at once ---------------------------------------------------------

    def take(self, key: Hashable, make: Maker) -> Shard | None:
        """A shard for ``key`` with room, counted (``None``: wait with `ready`).

        It may still be closing its previous transport (``retired``): `ready` waits.
        """
        if self._queued and key in self._waiters:
            return None  # behind the requests of its key that wait already
        shards = self._accepting.get(key)
        best: Shard | None = None
        if shards:  # the one with the most room; the first if it has nothing in flight
            best = shards[0]
            room = best.room
            if room != best.capacity:
                for shard in shards:
                    if shard.room > room:
                        best, room = shard, shard.room
                        if room == shard.capacity:
                            break
            if room == best.capacity:
                best.room = room - 1
                return best
        if self._free:
            shard = self._free.pop()
            self._bind(shard, key, make)
            shard.room -= 1
            return shard
        if best is not None and best.room:
            best.room -= 1
            return best
        if best is None or len(self._accepting) > 1:
            spare = self._spare(key)
            if spare is not None:
                self._rebind(spare, key, make)
                spare.room -= 1
                return spare
        return None

    def _spare(self, key: Hashable) -> Shard | None:
        """A shard of another key with nothing in flight (only idle connections)."""
        for other, shards in self._accepting.items():
            if other != key:
                for shard in shards:
                    if shard.room == shard.capacity:
                        return shard
        return None

    def _bind(self, shard: Shard, key: Hashable, make: Maker) -> None:
        """Give ``shard`` a new transport for ``key``; it takes requests of ``key``."""
        shard.key = key
        shard.transport = make(shard.capacity)
        self._accepting.setdefault(key, []).append(shard)

    def _unlist(self, shard: Shard) -> None:
        """``shard`` takes no more requests of its key."""
        shards = self._accepting[shard.key]
        shards.remove(shard)
        if not shards:
            del self._accepting[shard.key]

    def _undrain(self, shard: Shard) -> None:
        assert shard.draining  # only a shard being emptied gets here
        self._drains.discard(shard.draining_for)
        shard.draining_for = _NOTHING

    def _rebind(self, shard: Shard, key: Hashable, make: Maker) -> None:
        """Bind ``shard`` (nothing in flight) to ``key``, closing its old transport first."""
        if shard.draining:
            self._undrain(shard)
        else:
            self._unlist(shard)
        old = shard.transport
        assert old is not None
        shard.retired = asyncio.get_running_loop().create_task(_retire(old, shard.retired))
        self._bind(shard, key, make)

    # -- waiting ------------------------------------------------------------------------

    async def _wait(self, key: Hashable, make: Maker) -> Shard:
        future: asyncio.Future[Shard] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(future, make)
        self._waiters.setdefault(key, deque()).append(waiter)
        self._queued += 1
        if key not in self._accepting:
            self._provide(key)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(future.result())  # handed over as it was cancelled: pass it on
            else:
                self._drop(key, waiter)
            raise

    def _drop(self, key: Hashable, waiter: _Waiter) -> None:
        if not waiter.queued:  # taken off the queue when its future was already cancelled
            return
        queue = self._waiters[key]
        queue.remove(waiter)
        self._queued -= 1
        if not queue:
            del self._waiters[key]

    def _serve(self, shard: Shard) -> None:
        """Hand ``shard``'s room to the first waiters of its key."""
        queue = self._waiters.get(shard.key)
        if queue is None:
            return
        while queue and shard.room:
            waiter = queue.popleft()
            waiter.queued = False
            self._queued -= 1
            if not waiter.future.done():  # else cancelled, its task not yet told
                shard.room -= 1
                waiter.future.set_result(shard)
        if not queue:
            del self._waiters[shard.key]

    def _hand_on(self, shard: Shard) -> None:
        """After a release of ``shard`` while requests wait: who gets its room."""
        if not shard.live:
            return
        if shard.draining:
            if shard.room == shard.capacity:
                self._give(shard, shard.draining_for)
        elif self._waits(shard.key):
            self._serve(shard)
        elif shard.room == shard.capacity:  # nobody of its key waits: a waiting key may have it
            key = self._next_waiting()
            if key is not _NOTHING:
                self._give(shard, key)
        for key in [key for key in list(self._waiters) if key not in self._accepting]:
            if self._waits(key):
                self._provide(key)

    def _waits(self, key: Hashable) -> bool:
        """Whether a request of ``key`` waits (dropping those cancelled, not yet told)."""
        queue = self._waiters.get(key)
        while queue and queue[0].future.done():
            queue.popleft().queued = False
            self._queued -= 1
        if queue is not None and not queue:
            del self._waiters[key]
        return bool(queue)

    def _next_waiting(self) -> Hashable:
        """The first key a request waits for; ``_NOTHING`` if none."""
        return next((key for key in list(self._waiters) if self._waits(key)), _NOTHING)

    def _give(self, shard: Shard, key: Hashable) -> None:
        """Hand empty ``shard`` to waiting ``key`` (or whoever waits, if ``key`` does not)."""
        if not self._waits(key):
            key = self._next_waiting()
        if key is _NOTHING or key == shard.key:  # emptied for a key that stopped waiting
            self._undrain(shard)
            self._accepting.setdefault(shard.key, []).append(shard)  # it takes requests again
            self._serve(shard)
            return
        self._rebind(shard, key, self._waiters[key][0].make)
        self._serve(shard)

    def _provide(self, key: Hashable) -> None:
        """Find room for waiting ``key``, which has no shard taking its requests.

        Every shard is bound by then (``key`` would have taken an unbound one).
        """
        if key in self._drains:
            return  # a shard is being emptied for it already
        candidates = [shard for shard in self.shards if not shard.draining]
        if not candidates:
            return  # every shard is being emptied for another key: the next release decides
        victim = min(candidates, key=lambda shard: shard.in_flight)  # the soonest empty
        if not victim.in_flight:
            self._give(victim, key)
        else:
            self._unlist(victim)
            victim.draining_for = key
            self._drains.add(key)
