"""One client, many event loops: ``asyncio.run`` twice, a loop per thread, closing anywhere.

The client's own pool is one set of connections per event loop, closed when that loop
ends. A caller's ``http_client`` belongs to its loop: used from another, the call fails
with an ``OPayError`` (never a raw ``RuntimeError``). ``aclose()`` never raises. The
server here keeps connections alive (HTTP/1.1), as OPay does, so a connection of a
finished loop would be reused if the pool were shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from opay_async import OPayClient, OPayConnectionError, OrderStatus, RetryPolicy
from tests.helpers import (
    CHILD_LOOP,
    MERCHANT_ID,
    SECRET_KEY,
    UVLOOP,
    hx,
    stub_server,
    success,
)

BACKENDS = ["httpx2", "aiohttp"]
# A loop closed with loop.close() alone never closes its pools: the garbage collector does,
# and warns about their sockets, as for any library's pool.
LEFT_TO_THE_COLLECTOR = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@contextlib.contextmanager
def keep_alive_server() -> Iterator[str]:
    """OPay on loopback over HTTP/1.1: connections stay open between requests."""
    with stub_server(success) as server:
        yield server.url


def make_client(base_url: str, backend: str, **options: Any) -> OPayClient:
    return OPayClient(
        MERCHANT_ID,
        SECRET_KEY,
        base_url=base_url,
        backend=backend,  # type: ignore[arg-type]
        retry=RetryPolicy.none(),
        timeout=5,
        trust_env=False,
        **options,
    )


def loops_with_a_pool(opay: OPayClient) -> int:
    return opay._sender.exchange.connections.loops  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("backend", BACKENDS)
def test_asyncio_run_twice_works_and_each_loop_closes_its_pool(backend: str) -> None:
    with keep_alive_server() as url:
        opay = make_client(url, backend)
        for reference in ("RUN-1", "RUN-2", "RUN-3"):
            payment = asyncio.run(opay.close_payment(reference=reference, country="EG"))
            assert payment.order_status is OrderStatus.CLOSE
            assert loops_with_a_pool(opay) == 0  # closed as that loop ended
        asyncio.run(opay.aclose())


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_with_a_loop_each_share_one_client(backend: str) -> None:
    with keep_alive_server() as url:
        opay = make_client(url, backend)
        results: dict[int, list[str]] = {}
        start = threading.Barrier(4)

        def worker(number: int) -> None:
            async def run() -> list[str]:
                start.wait(timeout=10)
                outcomes = await opay.close_many(
                    [f"T{number}-{n}" for n in range(30)], country="EG", concurrency=5
                )
                return [outcome.request.reference or "" for outcome in outcomes if outcome.ok]

            results[number] = asyncio.run(run())

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert {n: len(refs) for n, refs in results.items()} == {0: 30, 1: 30, 2: 30, 3: 30}
        assert loops_with_a_pool(opay) == 0
        asyncio.run(opay.aclose())


@pytest.mark.parametrize("backend", BACKENDS)
@LEFT_TO_THE_COLLECTOR[0]
@LEFT_TO_THE_COLLECTOR[1]
def test_aclose_from_another_loop_or_after_the_loop_ended_never_raises(backend: str) -> None:
    with keep_alive_server() as url:
        opay = make_client(url, backend)
        # A loop in another thread keeps running with a pool of its own...
        other = asyncio.new_event_loop()
        thread = threading.Thread(target=other.run_forever)
        thread.start()
        try:
            future = asyncio.run_coroutine_threadsafe(
                opay.close_payment(reference="OTHER-1", country="EG"), other
            )
            assert future.result(timeout=10).reference == "OTHER-1"
            assert loops_with_a_pool(opay) == 1
            # ...and a loop that sent and ended without closing its async generators.
            ended = asyncio.new_event_loop()
            ended.run_until_complete(opay.close_payment(reference="ENDED-1", country="EG"))
            ended.close()
            # Closing from a third loop: no error, and every pool is let go.
            asyncio.run(opay.aclose())
            assert loops_with_a_pool(opay) == 0
            assert opay.is_closed
            asyncio.run(opay.aclose())  # twice is fine too
        finally:
            other.call_soon_threadsafe(other.stop)
            thread.join(timeout=10)
            other.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # the ended loop's socket
            gc.collect()


@pytest.mark.parametrize("backend", BACKENDS)
@LEFT_TO_THE_COLLECTOR[0]
@LEFT_TO_THE_COLLECTOR[1]
def test_a_loop_closed_without_cleanup_leaves_nothing_in_the_way(backend: str) -> None:
    with keep_alive_server() as url:
        opay = make_client(url, backend)
        first = asyncio.new_event_loop()
        first.run_until_complete(opay.close_payment(reference="OLD-1", country="EG"))
        first.close()  # no shutdown_asyncgens: its pool is left behind
        payment = asyncio.run(opay.close_payment(reference="NEW-1", country="EG"))
        assert payment.reference == "NEW-1"
        assert loops_with_a_pool(opay) == 0
        asyncio.run(opay.aclose())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def test_a_callers_client_used_from_another_running_loop_is_an_opay_error() -> None:
    with keep_alive_server() as url:
        http = hx.AsyncClient()
        opay = make_client(url, "httpx2", http_client=http)
        first = asyncio.new_event_loop()
        thread = threading.Thread(target=first.run_forever)
        thread.start()
        try:
            sent = asyncio.run_coroutine_threadsafe(
                opay.close_payment(reference="MINE-1", country="EG"), first
            )
            assert sent.result(timeout=10).reference == "MINE-1"
            # The client's connection is the first loop's, and that loop still runs.
            with pytest.raises(OPayConnectionError) as caught:
                asyncio.run(opay.close_payment(reference="MINE-2", country="EG"))
            assert "event loop" in str(caught.value)
            assert not caught.value.retryable
            asyncio.run(opay.aclose())  # the caller's client is not closed, nothing raises
            assert not http.is_closed
            closed = asyncio.run_coroutine_threadsafe(http.aclose(), first)
            closed.result(timeout=10)  # closed by its owner, in its loop
        finally:
            first.call_soon_threadsafe(first.stop)
            thread.join(timeout=10)
            first.close()


# The caller's client keeps its connection after the first loop ends: asyncio's loop
# leaves it to the collector, uvloop's closes it as the loop closes; either warns.
@LEFT_TO_THE_COLLECTOR[0]
def test_a_callers_client_used_after_its_loop_ended_is_a_payment_or_an_opay_error() -> None:
    with keep_alive_server() as url:
        http = hx.AsyncClient()
        opay = make_client(url, "httpx2", http_client=http)
        assert asyncio.run(opay.close_payment(reference="MINE-1", country="EG"))
        if UVLOOP:
            # uvloop closed the connection with its loop: the client opens another here.
            payment = asyncio.run(opay.close_payment(reference="MINE-2", country="EG"))
            assert payment.reference == "MINE-2"
        else:
            # asyncio's loop left it open, in a loop that is gone: it cannot be used.
            with pytest.raises(OPayConnectionError) as caught:
                asyncio.run(opay.close_payment(reference="MINE-2", country="EG"))
            assert "event loop" in str(caught.value)
            assert not caught.value.retryable
        asyncio.run(opay.aclose())  # the caller's client is not closed, nothing raises
        assert not http.is_closed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            del http
            gc.collect()


CHILD = (
    CHILD_LOOP
    + """
import asyncio, sys
from opay_async import OPayClient, RetryPolicy
opay = OPayClient("256612345678901", "OPAYPRV_loops", base_url=sys.argv[1],
                  backend=sys.argv[2], retry=RetryPolicy.none())
for n in range(3):
    asyncio.run(opay.close_payment(reference=f"DEV-{n}", country="EG"))
asyncio.run(opay.aclose())
async def loop_package():
    return type(asyncio.get_running_loop()).__module__.split(".")[0]
print("done on", asyncio.run(loop_package()))
"""
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_unclosed_socket_or_session_in_development_mode(backend: str) -> None:
    """``python -X dev -W error``: a pool left open at a loop's end would be reported."""
    with keep_alive_server() as url:
        done = subprocess.run(
            [sys.executable, "-X", "dev", "-W", "error", "-c", CHILD, url, backend],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"done on {'uvloop' if UVLOOP else 'asyncio'}"
    assert "unclosed" not in done.stderr.lower()
    assert "Exception ignored" not in done.stderr
