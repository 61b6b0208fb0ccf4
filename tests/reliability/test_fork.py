"""A client used before ``os.fork()``: the child opens its own connections, the parent keeps its.

Each scenario (``tests/reliability/forking.py``) runs in a fresh interpreter: the
parent closes payments, forks, the child closes payments (in a loop of its own, or in
the parent's loop object), and the parent closes more after the child has ended. The
server, in a process of its own, says which references came over which connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from opay_async._http import _fork
from opay_async._http._loops import PerLoop
from opay_async._http._pool import shard_capacities
from opay_async._http._shards import ShardPool
from tests.helpers import ROOT, clean_env

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this system")

SCRIPT = ["-m", "tests.reliability.forking"]
SECONDS = 120


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The counting server, in a process of its own; stopped by closing its stdin."""
    process = subprocess.Popen(
        [sys.executable, *SCRIPT, "serve"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=clean_env(),
    )
    watchdog = threading.Timer(SECONDS * 4, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        yield process.stdout.readline().decode().strip()
    finally:
        watchdog.cancel()
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def scenario(backend: str, loop: str, base_url: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-W", "error", *SCRIPT, backend, loop, base_url],
        cwd=ROOT,
        capture_output=True,
        env=clean_env(),
        timeout=SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert not done.stderr, done.stderr.decode()  # no warning, no traceback
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("loop", ["new", "inherited"])
@pytest.mark.parametrize("backend", ["httpx2", "aiohttp"])
def test_a_forked_child_uses_connections_of_its_own_and_the_parent_keeps_its(
    backend: str, loop: str, server: str
) -> None:
    result = scenario(backend, loop, server)
    expected = {"ok": 13, "errors": [], "escaped": None}
    assert result["parent"] == expected
    for child in result["children"]:
        assert {key: child[key] for key in expected} == expected, child
        assert child["exit"] == 0
    assert result["after"] == expected

    connections = result["connections"]
    before = result["connections_before_fork"]
    made_by = [{reference.split("-")[0] for reference in seen} for seen in connections]
    print(f"\n{backend}, {loop} loop: each connection's references, by prefix: {made_by}")
    # No child sent over a connection of the parent's or of the other child's, nor the
    # parent over one of a child's: each connection carried one process's closes.
    parent = {"PARENT", "AFTER"}
    assert all(prefixes <= parent or len(prefixes) == 1 for prefixes in made_by)
    assert all(made_by[n] == {"PARENT", "AFTER"} for n in range(before))  # used again after
    for child in ("CHILD1", "CHILD2"):
        assert any(prefixes == {child} for prefixes in made_by[before:])  # its own sockets
    # After the children ended, the parent's connections still worked: it opened none.
    assert all(not prefixes & parent for prefixes in made_by[before:])
    assert sum(len(seen) for seen in connections) == 4 * 13


# -- the hook itself, in this process -------------------------------------------------


def test_after_a_fork_every_pool_forgets_its_parents_state(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ShardPool(shard_capacities(10, 8))
    per_loop = PerLoop(lambda: pytest.fail("not made here"))  # type: ignore[arg-type]
    watched: weakref.WeakSet[_fork.Forkable] = weakref.WeakSet([pool, per_loop])
    monkeypatch.setattr(_fork, "_watched", watched)
    monkeypatch.setattr(_fork, "_forgotten", [])
    monkeypatch.setattr(_fork, "_generation", _fork.generation())  # put back after
    born = _fork.generation()
    old_shards, old_lock = pool.shards, per_loop._lock
    old_entries = per_loop._entries
    _fork._after_fork_in_child()  # as os.fork() runs it in the child
    assert _fork.generation() == born + 1
    assert [shard.capacity for shard in pool.shards] == [5, 5]
    assert not set(map(id, pool.shards)) & set(map(id, old_shards))
    assert not any(shard.live for shard in old_shards)
    assert per_loop._entries is not old_entries and per_loop._lock is not old_lock
    # Kept, never closed: the shards (with their transports) and the loops' clients.
    assert len(_fork._forgotten) == 2
    assert any(kept is old_entries for kept in _fork._forgotten)
    assert any(isinstance(kept, tuple) and kept[0] is old_shards for kept in _fork._forgotten)


async def test_a_parents_request_ending_in_the_child_gives_its_room_to_nobody() -> None:
    pool = ShardPool(shard_capacities(1, 8))
    shard = await pool.acquire("A", lambda capacity: FakeTransport())
    pool.after_fork()  # a request was in flight as the process forked
    fresh = await pool.acquire("A", lambda capacity: FakeTransport())  # the child's pool: empty
    waiting = asyncio.create_task(pool.acquire("A", lambda capacity: FakeTransport()))
    await asyncio.sleep(0)
    assert pool.waiting == 1
    pool.release(shard)  # the parent's request ends: its room is not the child's
    await asyncio.sleep(0)
    assert (pool.waiting, fresh.in_flight, waiting.done()) == (1, 1, False)
    pool.release(fresh)
    assert await asyncio.wait_for(waiting, timeout=5) is fresh
    pool.release(fresh)


async def test_a_forked_child_ending_the_loop_leaves_its_parents_client_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = httpx2.AsyncClient()
    per_loop = PerLoop(lambda: (client, None))
    await per_loop.get()
    (entry,) = per_loop._entries.values()
    monkeypatch.setattr(_fork, "_forgotten", [])
    monkeypatch.setattr(_fork, "_generation", _fork.generation() + 1)  # as in a forked child
    per_loop.after_fork()
    await entry.lifetime.aclose()  # what the loop's end does to it (asyncio.run, a Runner)
    assert not client.is_closed
    assert per_loop.loops == 0
    await client.aclose()


class FakeTransport(httpx2.AsyncBaseTransport):
    """A shard's transport that is never sent through."""
