"""The event loops the tests run on are the ones their session says: uvloop's in tests_uvloop.

The ``tests_uvloop`` nox session (``OPAY_TESTS_LOOP=uvloop``) switches every loop the
tests make to uvloop's (tests/conftest.py); these tests fail there if a switch silently
did nothing, and in every other session if something switched asyncio's loop for another.
Each way the tests get a loop is checked: pytest-asyncio's, ``asyncio.run`` in the test's
thread and in another, ``asyncio.new_event_loop``, a child process that runs
``CHILD_LOOP``, and the loop a close is sent from, on both backends and through a
caller's client.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest

from opay_async import OPayClient, RetryPolicy
from tests.helpers import CHILD_LOOP, MERCHANT_ID, SECRET_KEY, UVLOOP, LoopbackOPay, hx

#: The package whose loops the session runs on.
EXPECTED = "uvloop" if UVLOOP else "asyncio"


def package_of(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` for ``uvloop.Loop``, ``asyncio`` for asyncio's ``_UnixSelectorEventLoop``."""
    return type(loop).__module__.split(".")[0]


async def running_package() -> str:
    return package_of(asyncio.get_running_loop())


async def test_pytest_asyncio_runs_the_test_on_the_sessions_loop() -> None:
    assert await running_package() == EXPECTED


def test_asyncio_run_in_the_test_and_in_a_thread_uses_the_sessions_loop() -> None:
    assert asyncio.run(running_package()) == EXPECTED
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(asyncio.run(running_package())))
    thread.start()
    thread.join(timeout=10)
    assert seen == [EXPECTED]
    with asyncio.Runner() as runner:
        assert runner.run(running_package()) == EXPECTED


def test_a_new_event_loop_is_the_sessions() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert package_of(loop) == EXPECTED
    finally:
        loop.close()


def test_a_child_process_running_child_loop_uses_the_sessions_loop() -> None:
    code = CHILD_LOOP + (
        "import asyncio\n"
        "async def main():\n"
        "    return type(asyncio.get_running_loop()).__module__.split('.')[0]\n"
        "print(asyncio.run(main()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == EXPECTED


@pytest.mark.parametrize("way", ["httpx2", "aiohttp", "http_client"])
async def test_a_close_is_sent_and_answered_on_the_sessions_loop(way: str) -> None:
    server = LoopbackOPay()
    async with server.running() as url:
        http = hx.AsyncClient(trust_env=False) if way == "http_client" else None
        async with OPayClient(
            MERCHANT_ID,
            SECRET_KEY,
            base_url=url,
            backend="httpx2" if http is not None else way,  # type: ignore[arg-type]
            http_client=http,
            retry=RetryPolicy.none(),
            trust_env=False,
        ) as opay:
            payment = await opay.close_payment(reference="LOOP-1", country="EG")
            loop = await running_package()
        if http is not None:
            await http.aclose()
    assert payment.reference == "LOOP-1"
    assert server.received == 1
    assert loop == EXPECTED
