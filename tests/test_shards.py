"""The sharded pool's arithmetic and its rules: capacities that add up, keys that never overflow.

The transports here are stand-ins that count what a real pool would hold: a connection
per request in flight beyond the idle ones it keeps, none after it is closed. The
limit the client promises is on those: connections open (in every transport not yet
closed) and requests in flight never exceed ``max_connections``, whatever keys the
requests come with. ``tests/reliability/test_connection_limits.py`` checks the same on
real sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opay_async import OPayValidationError, ShardedTransport
from opay_async._http._pool import (
    DEFAULT_SHARD_SIZE,
    MIN_SHARDS,
    PoolRoute,
    own_capacities,
    shard_capacities,
)
from opay_async._http._shards import Maker, ShardPool
from opay_async._validation import MAX_CONNECTIONS


def test_the_own_pools_shards_add_up_to_exactly_max_connections_for_every_value() -> None:
    for total in range(1, MAX_CONNECTIONS + 1):
        capacities = own_capacities(total)
        assert sum(capacities) == total
        assert all(1 <= capacity <= DEFAULT_SHARD_SIZE for capacity in capacities)
        assert max(capacities) - min(capacities) <= 1  # evened out
        assert len(capacities) >= min(total, MIN_SHARDS)  # a few hosts and routes at once
        assert len(capacities) == max(-(-total // DEFAULT_SHARD_SIZE), min(total, MIN_SHARDS))


@given(total=st.integers(1, MAX_CONNECTIONS), size=st.integers(1, MAX_CONNECTIONS))
def test_the_shards_add_up_whatever_the_shard_size(total: int, size: int) -> None:
    capacities = shard_capacities(total, size)
    assert sum(capacities) == total
    assert all(1 <= capacity <= size for capacity in capacities)
    assert len(capacities) == -(-total // size)  # as few as the size allows
    assert max(capacities) - min(capacities) <= 1
    transport = ShardedTransport(max_connections=total, shard_size=size)
    assert transport.max_connections == total
    assert transport.shard_count == len(capacities)


@pytest.mark.parametrize("bad", [0, -1, MAX_CONNECTIONS + 1, 2.5, "8", None, True])
def test_a_bad_number_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(OPayValidationError, match="max_connections"):
        shard_capacities(bad, 8)
    with pytest.raises(OPayValidationError, match="shard_size"):
        shard_capacities(8, bad)


# -- a pool of stand-in transports ----------------------------------------------------


class Ledger:
    """Every stand-in transport made, and the limit they must keep together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.transports: list[Counted] = []
        self.peak_connections = 0
        self.peak_in_flight = 0

    def maker(self, key: Hashable) -> Maker:
        def make(capacity: int) -> httpx2.AsyncBaseTransport:
            transport = Counted(self, key, capacity)
            self.transports.append(transport)
            return transport

        return make

    @property
    def connections(self) -> int:
        return sum(t.connections for t in self.transports if not t.closed)

    @property
    def in_flight(self) -> int:
        return sum(t.in_flight for t in self.transports)


class Counted(httpx2.AsyncBaseTransport):
    """A pool of ``capacity`` kept-alive connections, for one key, counting them."""

    def __init__(self, ledger: Ledger, key: Hashable, capacity: int) -> None:
        self.ledger = ledger
        self.key = key
        self.capacity = capacity
        self.connections = 0  # open: in use or idle
        self.in_flight = 0
        self.closed = False

    def start(self, key: Hashable) -> None:
        assert key == self.key, "a request sent through a transport of another key"
        assert not self.closed, "a request sent through a closed transport"
        self.in_flight += 1
        assert self.in_flight <= self.capacity
        self.connections = max(self.connections, self.in_flight)  # idle ones are reused
        ledger = self.ledger
        ledger.peak_connections = max(ledger.peak_connections, ledger.connections)
        ledger.peak_in_flight = max(ledger.peak_in_flight, ledger.in_flight)
        assert ledger.connections <= ledger.limit
        assert ledger.in_flight <= ledger.limit

    def finish(self) -> None:
        self.in_flight -= 1

    async def aclose(self) -> None:
        assert not self.in_flight, "closed with requests in flight"
        await asyncio.sleep(0)  # closing takes a turn of the loop, as a socket's does
        self.closed = True
        self.connections = 0


async def use(pool: ShardPool, ledger: Ledger, key: Hashable, turns: int) -> Counted:
    """One request: a shard, ``turns`` turns of the loop on the wire, the room given back.

    Returns the transport it went through.
    """
    shard = await pool.acquire(key, ledger.maker(key))
    transport = shard.transport
    assert isinstance(transport, Counted)
    transport.start(key)
    try:
        for _ in range(turns):
            await asyncio.sleep(0)
    finally:
        transport.finish()
        pool.release(shard)
    return transport


REQUESTS = st.lists(
    st.tuples(
        st.integers(0, 2),  # key
        st.integers(0, 4),  # turns on the wire
        st.integers(0, 3),  # turns before it is sent
        st.none() | st.integers(0, 8),  # turns before it is cancelled, if it is
    ),
    max_size=60,
)


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def cancel_after(count: int, task: asyncio.Task[None]) -> None:
    await turns(count)
    task.cancel()


@given(total=st.integers(1, 20), size=st.integers(1, 6), requests=REQUESTS)
def test_keys_never_take_the_pool_past_its_limit(
    total: int, size: int, requests: list[tuple[int, int, int, int | None]]
) -> None:
    ledger = Ledger(total)

    async def later(key: int, on_the_wire: int, delay: int) -> None:
        await turns(delay)
        await use(pool, ledger, key, on_the_wire)

    async def run() -> None:
        tasks = [asyncio.create_task(later(*request[:3])) for request in requests]
        cancels = [
            asyncio.create_task(cancel_after(request[3], task))
            for task, request in zip(tasks, requests, strict=True)
            if request[3] is not None
        ]
        _, pending = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
        await asyncio.gather(*cancels)
        assert not pending, "a request never got a shard"
        for task in tasks:
            assert task.cancelled() or task.exception() is None
        assert pool.in_flight == 0
        assert pool.waiting == 0
        await pool.aclose()
        assert all(t.closed or not t.connections for t in ledger.transports)

    pool = ShardPool(shard_capacities(total, size))
    asyncio.run(run())
    assert ledger.peak_connections <= total
    assert ledger.peak_in_flight <= total


async def test_light_traffic_reuses_the_first_shard_and_load_spreads() -> None:
    ledger = Ledger(16)
    pool = ShardPool(shard_capacities(16, 8))
    for _ in range(5):
        await use(pool, ledger, "direct", 1)
    assert len(ledger.transports) == 1  # one shard bound, its connection reused
    used = await asyncio.gather(*(use(pool, ledger, "direct", 3) for _ in range(16)))
    assert {id(transport) for transport in used} == {id(t) for t in ledger.transports}
    assert [t.connections for t in ledger.transports] == [8, 8]


async def test_a_full_pool_queues_first_come_first_served() -> None:
    ledger = Ledger(3)
    pool = ShardPool(shard_capacities(3, 2))  # shards of 2 and 1: room by room, not by count
    order: list[int] = []

    async def numbered(number: int) -> None:
        await use(pool, ledger, "direct", 2)
        order.append(number)

    await asyncio.gather(*(numbered(number) for number in range(12)))
    assert ledger.peak_in_flight == 3
    assert order[:3] == [0, 1, 2]
    assert len(ledger.transports) == 2  # no churn with one key


async def test_a_key_waiting_with_no_shard_is_not_starved_by_another_keys_traffic() -> None:
    ledger = Ledger(2)
    pool = ShardPool(shard_capacities(2, 1))
    stop = asyncio.Event()

    async def busy() -> None:  # key A keeps every shard busy, back to back
        while not stop.is_set():
            await use(pool, ledger, "A", 1)

    workers = [asyncio.create_task(busy()) for _ in range(4)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert pool.waiting  # A alone fills the pool
    transport = await asyncio.wait_for(use(pool, ledger, "B", 1), timeout=5)
    assert transport.key == "B"
    stop.set()
    await asyncio.gather(*workers)
    retired = [t for t in ledger.transports if t.key == "A" and t.closed]
    assert len(retired) == 1  # one shard of A was emptied and closed for B, no more


async def test_an_idle_shard_of_another_key_is_taken_and_closed_before_use() -> None:
    ledger = Ledger(1)
    pool = ShardPool(shard_capacities(1, 8))
    await use(pool, ledger, "A", 1)
    shard = await pool.acquire("B", ledger.maker("B"))  # waits for A's transport to close
    first, second = ledger.transports
    assert (first.key, first.closed, second.key, second.closed) == ("A", True, "B", False)
    assert shard.transport is second
    pool.release(shard)
    await pool.aclose()
    assert second.closed


async def test_a_cancelled_waiter_leaves_its_place_and_a_handed_shard_goes_on() -> None:
    ledger = Ledger(1)
    pool = ShardPool(shard_capacities(1, 8))
    holder = await pool.acquire("A", ledger.maker("A"))
    first = asyncio.create_task(pool.acquire("A", ledger.maker("A")))
    second = asyncio.create_task(pool.acquire("A", ledger.maker("A")))
    await asyncio.sleep(0)
    assert pool.waiting == 2
    first.cancel()
    await asyncio.sleep(0)
    assert pool.waiting == 1
    pool.release(holder)  # second gets it...
    second.cancel()  # ...and is cancelled before it runs: the room is given back
    with pytest.raises(asyncio.CancelledError):
        await second
    assert (pool.in_flight, pool.waiting) == (0, 0)


async def test_a_request_cancelled_while_the_old_transport_closes_gives_its_room_back() -> None:
    ledger = Ledger(1)
    pool = ShardPool(shard_capacities(1, 8))
    await use(pool, ledger, "A", 0)
    taking = asyncio.create_task(pool.acquire("B", ledger.maker("B")))
    await asyncio.sleep(0)  # it has the shard, and waits for A's transport to close
    taking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await taking
    assert pool.in_flight == 0
    shard = await pool.acquire("B", ledger.maker("B"))
    assert ledger.transports[0].closed
    pool.release(shard)


async def test_a_shard_emptied_for_a_key_that_stopped_waiting_serves_its_own_again() -> None:
    ledger = Ledger(1)
    pool = ShardPool(shard_capacities(1, 8))
    holder = await pool.acquire("A", ledger.maker("A"))
    waiting_b = asyncio.create_task(pool.acquire("B", ledger.maker("B")))
    await asyncio.sleep(0)
    waiting_a = asyncio.create_task(pool.acquire("A", ledger.maker("A")))
    await asyncio.sleep(0)
    waiting_b.cancel()  # the shard was being emptied for B
    with pytest.raises(asyncio.CancelledError):
        await waiting_b
    pool.release(holder)
    shard = await asyncio.wait_for(waiting_a, timeout=5)
    assert shard is holder and shard.key == "A"
    assert len(ledger.transports) == 1
    pool.release(shard)


async def test_three_keys_on_one_shard_each_get_it_in_turn() -> None:
    ledger = Ledger(1)
    pool = ShardPool(shard_capacities(1, 8))
    holder = await pool.acquire("A", ledger.maker("A"))
    b = asyncio.create_task(pool.acquire("B", ledger.maker("B")))
    c = asyncio.create_task(pool.acquire("C", ledger.maker("C")))
    await asyncio.sleep(0)  # B has the shard emptied for it; C waits for the next release
    assert pool.waiting == 2
    pool.release(holder)
    shard = await asyncio.wait_for(b, timeout=5)
    assert shard.key == "B"
    pool.release(shard)
    shard = await asyncio.wait_for(c, timeout=5)
    assert shard.key == "C"
    pool.release(shard)
    assert [t.key for t in ledger.transports] == ["A", "B", "C"]
    await pool.aclose()


async def test_a_shard_emptied_for_a_key_that_stopped_waiting_with_nobody_else_stays() -> None:
    ledger = Ledger(1)
    pool = ShardPool(shard_capacities(1, 8))
    holder = await pool.acquire("A", ledger.maker("A"))
    waiting = asyncio.create_task(pool.acquire("B", ledger.maker("B")))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    other = asyncio.create_task(pool.acquire("C", ledger.maker("C")))
    await asyncio.sleep(0)
    other.cancel()  # cancelled, but still listed when the shard empties
    pool.release(holder)
    with pytest.raises(asyncio.CancelledError):
        await other
    shard = pool.take("A", ledger.maker("A"))  # A's again, its connections kept
    assert shard is holder
    assert len(ledger.transports) == 1
    pool.release(shard)


async def test_an_emptied_shard_stays_with_its_key_when_the_only_waiter_was_cancelled() -> None:
    ledger = Ledger(2)
    pool = ShardPool(shard_capacities(2, 1))
    a = await pool.acquire("A", ledger.maker("A"))
    b = await pool.acquire("B", ledger.maker("B"))
    waiting = asyncio.create_task(pool.acquire("B", ledger.maker("B")))  # B is full: it waits
    await asyncio.sleep(0)
    waiting.cancel()  # cancelled, but still listed when A's shard empties
    pool.release(a)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert pool.take("A", ledger.maker("A")) is a  # not given to the cancelled B
    assert len(ledger.transports) == 2
    pool.release(a)
    pool.release(b)


async def test_a_shard_rebound_twice_closes_its_old_transports_in_turn() -> None:
    ledger = Ledger(1)
    pool = ShardPool(shard_capacities(1, 8))
    await use(pool, ledger, "A", 0)
    shard = pool.take("B", ledger.maker("B"))  # A's transport starts closing...
    assert shard is not None
    pool.release(shard)  # ...B never sent anything...
    shard = pool.take("C", ledger.maker("C"))  # ...and C takes it: B's closes after A's
    assert shard is not None
    shard = await pool.ready(shard, "C", ledger.maker("C"))
    assert [(t.key, t.closed) for t in ledger.transports] == [
        ("A", True),
        ("B", True),
        ("C", False),
    ]
    pool.release(shard)


async def test_a_shard_being_emptied_takes_nothing_new_and_goes_when_empty() -> None:
    ledger = Ledger(2)
    pool = ShardPool(shard_capacities(2, 8))  # one shard of 2
    first = await pool.acquire("A", ledger.maker("A"))
    second = await pool.acquire("A", ledger.maker("A"))
    for_b = asyncio.create_task(pool.acquire("B", ledger.maker("B")))
    await asyncio.sleep(0)  # the shard is being emptied for B
    assert pool.take("A", ledger.maker("A")) is None  # A's next one waits
    pool.release(first)
    await asyncio.sleep(0)
    assert not for_b.done()
    pool.release(second)
    shard = await asyncio.wait_for(for_b, timeout=5)
    assert shard.key == "B" and ledger.transports[0].closed
    pool.release(shard)


@pytest.mark.parametrize("read_first", [True, False], ids=["read already", "streamed"])
async def test_an_answer_gives_its_room_back_whether_read_already_or_streamed(
    read_first: bool,
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"{}"

    async def answer(request: httpx2.Request) -> httpx2.Response:
        if read_first:  # as an in-process transport's may be: read, and so closed
            return httpx2.Response(200, content=b"{}", request=request)
        return httpx2.Response(200, content=body(), request=request)

    route = PoolRoute(ShardPool((1,)), None, lambda _: httpx2.MockTransport(answer))
    async with httpx2.AsyncClient(transport=route) as http:
        for _ in range(3):  # one slot: each request needs the one before to give it back
            response = await asyncio.wait_for(http.post("http://pool.test/"), timeout=5)
            assert response.content == b"{}"
            assert route.in_flight == 0
