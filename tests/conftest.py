"""pytest configuration: the one hypothesis profile of the suite, and uvloop in its session.

The ``tests_uvloop`` nox session (``OPAY_TESTS_LOOP=uvloop``) runs the tests that use event
loops and sockets on uvloop's loops, as FastAPI services under ``uvicorn[standard]`` do.
Two switches make every loop a test makes uvloop's:

- pytest-asyncio's ``pytest_asyncio_loop_factories`` hook (pytest-asyncio 1.4 and later,
  its supported way): every async test and fixture runs on ``uvloop.new_event_loop()``;
- the global event loop policy, for the loops tests make themselves: ``asyncio.run``,
  ``asyncio.Runner`` and ``asyncio.new_event_loop``, in the test's thread or another.

A child process a test starts runs asyncio's loop unless it runs ``CHILD_LOOP`` first
(tests/helpers.py; the hostile-answers memory children and the development-mode child
do). The command's subprocesses (``python -m opay_async``) run asyncio's loop, as the
command always does. tests/test_event_loop_in_use.py fails if a switch did nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

import pytest
from hypothesis import HealthCheck, settings

# One profile for every property test: no per-test deadline (CI machines are shared and
# slow), a bounded number of examples, more of them when asked for (HYPOTHESIS_PROFILE=ci).
settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

if os.environ.get("OPAY_TESTS_LOOP") == "uvloop":  # the tests_uvloop session
    import uvloop  # no uvloop, no lane: the import fails the run instead of passing it

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
        """Every async test and fixture on a uvloop loop."""
        del config, item
        return {"uvloop": uvloop.new_event_loop}

    def pytest_report_header(config: pytest.Config) -> str:
        """Say which event loops the run uses, at the top of its report."""
        del config
        return f"event loops: uvloop {uvloop.__version__} (OPAY_TESTS_LOOP=uvloop)"


if os.environ.get("OPAY_TESTS_HTTPX") == "legacy":  # the tests_legacy_httpx session
    from tests import helpers

    def _hands_the_sdk_the_family(item: pytest.Item) -> bool:
        """Whether ``item`` sends through the family under test (``helpers.hx``), or is timed."""
        if item.get_closest_marker("timed"):  # this session runs without coverage's tracer
            return True
        module = getattr(item, "module", None)  # None for the package's doctests
        return module is not None and (
            getattr(module, "hx", None) is helpers.hx or hasattr(module, "LEGACY_HTTPX")
        )

    def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
        """Keep the tests that give the SDK a transport or client of the family under test.

        The others (the command, the simulator, the own pool, docs) send through httpx2
        whatever is installed: the default session runs them, once.
        """
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            (kept if _hands_the_sdk_the_family(item) else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_report_header(config: pytest.Config) -> str:
        """Say which family the run hands the SDK, at the top of its report."""
        del config
        return "http family: legacy httpx (OPAY_TESTS_HTTPX=legacy): only modules using it"
