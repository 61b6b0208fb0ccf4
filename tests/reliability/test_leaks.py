"""Leaks: after faults and cancellations nothing is left open, running or warned about."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import warnings

import pytest

from opay_async import OPayClient, RetryPolicy
from opay_async._http._pool import PoolRoute
from opay_async.testing import FakeOPay, instant_retries
from tests.helpers import own_pool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc fds")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def other_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current and not task.done()}


async def test_no_socket_task_or_warning_left_after_faults_and_cancellations() -> None:
    fake = FakeOPay(auto_create=True)
    fake.set_latency(0.0, 0.003)
    async with fake.serve() as base_url:
        server_tasks = other_tasks()
        before = open_fds()
        with warnings.catch_warnings(record=True) as caught, instant_retries():
            warnings.simplefilter("always")
            opay = OPayClient(
                fake.merchant_id,
                fake.secret_key,
                base_url=base_url,
                timeout=0.2,
                retry=RetryPolicy(attempts=3),
                max_connections=30,
            )
            transport = (await own_pool(opay))._transport
            assert isinstance(transport, PoolRoute)
            for round_number in range(3):
                fake.set_fault_rates(
                    service_unavailable=0.2,
                    http_502=0.05,
                    drop=0.05,
                    timeout=0.02,
                    seed=round_number,
                )
                outcomes = await opay.close_many(
                    [f"LEAK-{round_number}-{n}" for n in range(300)], country="EG", concurrency=30
                )
                assert len(outcomes) == 300
                # And a run cancelled half-way.
                fake.clear_faults()
                fake.set_latency(0.05)
                run = asyncio.create_task(
                    opay.close_many(
                        [f"CUT-{round_number}-{n}" for n in range(500)],
                        country="EG",
                        concurrency=30,
                    )
                )
                await asyncio.sleep(0.1)
                run.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await run
                fake.set_latency(0.0, 0.003)
                assert transport.in_flight == 0
            await opay.aclose()
            for shard in transport._shards.shards:
                assert shard.transport is None or not shard.transport._pool.connections
            await asyncio.sleep(0.05)  # let the server's own tasks see the connections close
            assert other_tasks() - server_tasks == set()
            gc.collect()
        assert open_fds() <= before
        leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
        assert not leaks, [str(w.message) for w in leaks]
        assert not [w for w in caught if "was destroyed" in str(w.message)]


async def test_an_iterator_left_early_leaves_nothing_running() -> None:
    fake = FakeOPay(auto_create=True)
    fake.set_latency(0.02)
    async with fake.client() as opay:
        before = other_tasks()
        stream = opay.iter_close_many([f"E-{n}" for n in range(1000)], country="EG", concurrency=20)
        async for _ in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
        assert other_tasks() == before
    assert fake.request_count < 100
