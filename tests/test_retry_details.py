"""The retry schedule's details, each pinned: the backoff's curve, the deadline's edge, the log.

Written against the mutants of ``_retry.py`` that survived the rest of the suite
(``nox -s mutants``). A deterministic virtual clock (no real time added) makes the
deadline's edge exact.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from opay_async import OPayHTTPError, RetryPolicy, ServiceUnavailableError
from opay_async._clock import VirtualClock, reset_clock, use_clock
from opay_async._retry import backoff
from opay_async.testing import FakeOPay


def highest(low: float, high: float) -> float:
    assert low == 0.0
    return high


@pytest.mark.parametrize(("retry", "wait"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0)])
def test_the_backoffs_ceiling_doubles_from_wait_initial(retry: int, wait: float) -> None:
    assert backoff(retry, initial=0.5, maximum=100.0, draw=highest) == wait


def test_the_backoffs_exponent_stops_at_64() -> None:
    # No OverflowError however many retries; the ceiling grows no more after retry 65.
    for retry in (65, 66, 10_000):
        assert backoff(retry, initial=1e-30, maximum=1e300, draw=highest) == 1e-30 * 2.0**64
    assert backoff(64, initial=1e-30, maximum=1e300, draw=highest) == 1e-30 * 2.0**63


@pytest.mark.parametrize(
    ("retry_after", "wait"), [(0.25, 0.25), (0.0, 0.0), (-5.0, 0.0), (3.0, 3.0), (60.0, 8.0)]
)
def test_a_servers_retry_after_is_taken_as_it_is_between_0_and_wait_max(
    retry_after: float, wait: float
) -> None:
    assert backoff(1, initial=0.5, maximum=8.0, retry_after=retry_after, draw=highest) == wait


@pytest.fixture
def exact_clock() -> Iterator[VirtualClock]:
    clock = VirtualClock(follow_real_time=False)
    token = use_clock(clock)
    try:
        yield clock
    finally:
        reset_clock(token)


@pytest.mark.parametrize(("retry_after", "sent"), [(3, 1), (2, 2)])
async def test_a_wait_reaching_the_deadline_exactly_is_not_started(
    exact_clock: VirtualClock, retry_after: int, sent: int
) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next_http(1, status=503, retry_after=retry_after)
    policy = RetryPolicy(attempts=5, timeout=3.0, wait_max=8.0)
    async with fake.client(retry=policy) as opay:
        if sent == 1:
            with pytest.raises(OPayHTTPError, match="HTTP 503"):
                await opay.close_payment(reference="R-1", country="EG")
        else:
            assert (await opay.close_payment(reference="R-1", country="EG")).is_closed
    assert fake.request_count == sent
    assert exact_clock.sleeps == ([] if sent == 1 else [2.0])


async def test_each_retry_is_logged_with_the_attempt_the_error_and_the_wait(
    exact_clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(3)  # three failures for three attempts
    caplog.set_level(logging.WARNING, logger="opay_async")
    async with fake.client(retry=RetryPolicy(attempts=3, wait_initial=0.5)) as opay:
        with pytest.raises(ServiceUnavailableError):
            await opay.close_payment(reference="R-1", country="EG")
    lines = [r.getMessage() for r in caplog.records if r.name == "opay_async"]
    assert len(lines) == 2
    for number, line in enumerate(lines, start=1):
        assert re.fullmatch(
            rf"retrying close after attempt {number} failed: \[50003\] service not available, "
            r"please try again\. \(reference='R-1'\); waiting \d+\.\d\ds",
            line,
        ), line
    waits = [float(line.rsplit("waiting ", 1)[1][:-1]) for line in lines]
    assert waits == [round(sleep, 2) for sleep in exact_clock.sleeps]
