"""FakeOPay under load: bulk closes through it, a soak with a fault mix, its cost."""

from __future__ import annotations

import sys
import time

import pytest

from opay_async import (
    CLOSE_PATH,
    OPayConnectionError,
    OPayHTTPError,
    RetryBudget,
    RetryPolicy,
    ServiceUnavailableError,
)
from opay_async.testing import FakeOPay, FaultKind, instant_retries
from tests.helpers import body_of, signed_for


async def test_bulk_closes_through_the_simulator_under_a_fault_mix() -> None:
    fake = FakeOPay(auto_create=True)
    fake.set_fault_rates(service_unavailable=0.2, http_502=0.02, drop=0.01, timeout=0.01, seed=3)
    references = [f"BULK-{i}" for i in range(1_000)]
    with instant_retries() as clock:
        async with fake.client(retry=RetryPolicy(attempts=6), retry_budget=None) as opay:
            outcomes = await opay.close_many(references, country="EG", concurrency=50)
    assert [o.request.reference for o in outcomes if o.request] == references
    closed = {o.request.reference for o in outcomes if o.ok and o.request}
    assert len(closed) >= 995
    assert all(fake.payment(reference=reference).is_closed for reference in closed)
    for outcome in outcomes:
        if not outcome.ok:
            assert isinstance(
                outcome.error, ServiceUnavailableError | OPayHTTPError | OPayConnectionError
            )
    faults = [seen.fault for seen in fake.requests]
    assert fake.request_count == len(faults) > 1_000
    assert {FaultKind.API_ERROR, FaultKind.HTTP_ERROR, FaultKind.DROP, FaultKind.TIMEOUT} <= set(
        faults
    )
    assert len(clock.sleeps) == fake.request_count - 1_000
    assert fake.closed_count == len(closed)


async def test_a_soak_of_5000_requests_with_a_retry_budget() -> None:
    fake = FakeOPay(auto_create=True, record_limit=1_000)
    fake.set_fault_rates(service_unavailable=0.2, seed=11)
    with instant_retries():
        async with fake.client(retry_budget=RetryBudget()) as opay:
            outcomes = await opay.close_many(
                [f"SOAK-{i}" for i in range(5_000)], country="NG", concurrency=100
            )
    ok = sum(outcome.ok for outcome in outcomes)
    # The budget caps retries during the outage: some closes give up, typed, untouched.
    assert ok >= 4_500
    failed = [outcome for outcome in outcomes if not outcome.ok]
    assert all(isinstance(outcome.error, ServiceUnavailableError) for outcome in failed)
    stored = {payment.reference for payment in fake.payments}
    assert len(stored) == ok  # a faulted request creates no payment, even with auto_create
    assert not stored & {outcome.request.reference for outcome in failed if outcome.request}
    assert fake.closed_count == ok
    assert len(fake.requests) <= 1_100
    assert fake.request_count > 5_000


def _traced() -> bool:
    """Whether a tracer (coverage's) slows every Python line down."""
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+
    monitored = monitoring is not None and monitoring.get_tool(monitoring.COVERAGE_ID) is not None
    return sys.gettrace() is not None or monitored


@pytest.mark.timed
@pytest.mark.skipif(
    _traced(), reason="timed only without coverage's tracer (the tests_legacy_httpx session)"
)
def test_handling_a_request_costs_well_under_100_microseconds() -> None:
    # The best of three rounds: a busy machine slows a round down, never speeds one up.
    rounds: list[float] = []
    for _ in range(3):
        fake = FakeOPay(auto_create=True)
        requests: list[tuple[dict[str, str], bytes]] = []
        for i in range(2_000):
            body = body_of(country="EG", reference=f"COST-{i}")
            headers = {name.lower(): value for name, value in signed_for(fake, body).items()}
            requests.append((headers, body))
        started = time.perf_counter()
        for headers, body in requests:
            fake.handle("POST", CLOSE_PATH, headers, body)
        rounds.append((time.perf_counter() - started) / len(requests))
        assert fake.closed_count == 2_000
    assert min(rounds) < 100e-6, f"{min(rounds) * 1e6:.1f} µs per request"
