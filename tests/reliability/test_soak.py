"""Fault soak: 10,000 cancellations through close_many against a misbehaving OPay.

Fault mix per request: 20% 50003, 2% HTTP 502 with an HTML page, 1% dropped connections,
1% timeouts, and a random latency; 1% of the input repeats an earlier reference.
"""

from __future__ import annotations

import collections
import random
import time

import pytest

from opay_async import (
    OPayAPIError,
    OPayConnectionError,
    OPayError,
    OPayHTTPError,
    RetryPolicy,
)
from opay_async.testing import FakeOPay, FaultKind, instant_retries

ITEMS = 10_000


def soak_input(seed: int) -> list[str]:
    chooser = random.Random(seed)
    references = [f"SOAK-{number:05d}" for number in range(ITEMS)]
    for position in chooser.sample(range(ITEMS), ITEMS // 100):  # 1% repeats
        references[position] = references[chooser.randrange(ITEMS)]
    return references


def faulty_opay(seed: int) -> FakeOPay:
    fake = FakeOPay(auto_create=True)
    fake.set_fault_rates(
        service_unavailable=0.20, http_502=0.02, drop=0.01, timeout=0.01, seed=seed
    )
    fake.set_latency(0.0, 0.002)
    return fake


@pytest.mark.parametrize(
    ("label", "options"),
    [
        ("default retries and budget", {}),
        ("no budget, 8 attempts", {"retry_budget": None, "retry": RetryPolicy(attempts=8)}),
    ],
)
async def test_soak_exactly_one_typed_outcome_per_input(
    label: str, options: dict[str, object]
) -> None:
    references = soak_input(seed=11)
    fake = faulty_opay(seed=12)
    started = time.perf_counter()
    with instant_retries():
        async with fake.client(**options) as opay:  # type: ignore[arg-type]
            outcomes = await opay.close_many(references, country="EG", concurrency=50)
    elapsed = time.perf_counter() - started

    assert len(outcomes) == ITEMS
    assert [outcome.index for outcome in outcomes] == list(range(ITEMS))
    successes: collections.Counter[str] = collections.Counter()
    for reference, outcome in zip(references, outcomes, strict=True):
        assert outcome.request is not None
        assert outcome.request.reference == reference
        if outcome.ok:
            assert outcome.payment is not None
            assert outcome.payment.is_closed
            successes[reference] += 1
        else:
            assert isinstance(outcome.error, OPayAPIError | OPayHTTPError | OPayConnectionError)
            assert outcome.error.retryable  # only injected faults can fail here
            assert outcome.error.reference == reference
    # Every payment reported closed is CLOSE in the simulator.
    assert all(fake.payment(reference=reference).is_closed for reference in successes)
    # No payment closed by two successful outcomes unless the input repeated it.
    wanted = collections.Counter(references)
    assert all(count <= wanted[reference] for reference, count in successes.items())
    # Each payment moved to CLOSE once, however many attempts reached it.
    assert fake.closed_count == len({p.reference for p in fake.payments if p.is_closed})

    faults = collections.Counter(seen.fault for seen in fake.requests)
    failed = ITEMS - sum(outcome.ok for outcome in outcomes)
    attempts = sum(outcome.attempts for outcome in outcomes)
    print(
        f"\nsoak [{label}]: {ITEMS} items, {fake.request_count} requests ({attempts} attempts),"
        f" faults injected: {faults[FaultKind.API_ERROR]} x 50003,"
        f" {faults[FaultKind.HTTP_ERROR]} x HTTP 502, {faults[FaultKind.DROP]} drops,"
        f" {faults[FaultKind.TIMEOUT]} timeouts; outcomes: {ITEMS - failed} closed,"
        f" {failed} failed; {elapsed:.1f} s"
    )
    assert fake.request_count == attempts
    assert elapsed < 60
    if options.get("retry_budget", "default") is None:
        assert failed < ITEMS * 0.001  # with enough retries nearly everything closes
    else:
        assert attempts < ITEMS * 1.25  # the budget kept retries from multiplying load
        assert all(isinstance(o.error, OPayError) for o in outcomes if not o.ok)
