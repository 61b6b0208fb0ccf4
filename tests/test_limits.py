"""Limits that belong to the merchant: one rate for every call of a client, and with_options."""

from __future__ import annotations

import asyncio
import bisect
import json
from collections.abc import Iterator

import pytest

from opay_async import (
    CloseRequest,
    OPayClient,
    OPayError,
    OPayValidationError,
    RetryBudget,
    RetryPolicy,
    ServiceUnavailableError,
)
from opay_async._clock import VirtualClock, current_clock, reset_clock, use_clock
from tests.helpers import MERCHANT_ID, SECRET_KEY, hx, success


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """Exact time: it moves only by the waits (rate limits, retry backoff)."""
    virtual = VirtualClock(follow_real_time=False)
    token = use_clock(virtual)
    yield virtual
    reset_clock(token)


class StampingOPay:
    """Answers every close with a success (or 50003 for 'busy-' references, twice), noting
    when, on the SDK's clock, each request arrived."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.seen: dict[str, int] = {}

    def __call__(self, request: hx.Request) -> hx.Response:
        self.times.append(current_clock().now())
        body = json.loads(request.content)
        reference = body["reference"]
        self.seen[reference] = self.seen.get(reference, 0) + 1
        if reference.startswith("busy-") and self.seen[reference] <= 2:
            return hx.Response(200, json={"code": "50003", "message": "busy"})
        return hx.Response(200, json=success(body))

    def busiest_second(self) -> int:
        """Most requests that arrived within any one second (less a microsecond, for the
        float sums of the limiter's slots: 20 x 0.05 s is 0.9999999999999999 s)."""
        times = sorted(self.times)
        window = 1.0 - 1e-6
        return max(bisect.bisect_left(times, start + window) - i for i, start in enumerate(times))


def client(opay: StampingOPay, **options: object) -> OPayClient:
    return OPayClient(
        MERCHANT_ID,
        SECRET_KEY,
        transport=hx.MockTransport(opay),
        **options,  # type: ignore[arg-type]
    )


async def test_one_rate_for_two_bulk_runs_and_single_closes(clock: VirtualClock) -> None:
    opay = StampingOPay()
    async with client(opay, rate_limit=20) as shared:
        await asyncio.gather(
            shared.close_many([f"A-{n}" for n in range(60)], country="EG", concurrency=10),
            shared.close_many([f"B-{n}" for n in range(60)], country="EG", concurrency=10),
            *(shared.close_payment(reference=f"C-{n}", country="EG") for n in range(10)),
        )
    assert len(opay.times) == 130
    print(
        f"\n130 closes from 2 bulk runs and 10 single closes at rate_limit=20: busiest second "
        f"{opay.busiest_second()} attempts, {max(opay.times):.2f} s in all"
    )
    assert opay.busiest_second() <= 20
    assert max(opay.times) == pytest.approx((130 - 1) / 20)  # evenly spaced, no burst


async def test_retries_count_against_the_client_rate(clock: VirtualClock) -> None:
    opay = StampingOPay()
    policy = RetryPolicy(attempts=4, wait_initial=0, wait_max=0)  # retries would be instant
    async with client(opay, rate_limit=10, retry=policy) as limited:
        outcomes = await limited.close_many(
            [f"busy-{n}" for n in range(20)], country="EG", concurrency=20
        )
    assert all(outcome.ok and outcome.attempts == 3 for outcome in outcomes)
    assert len(opay.times) == 60
    assert opay.busiest_second() <= 10


async def test_a_per_call_rate_applies_on_top(clock: VirtualClock) -> None:
    opay = StampingOPay()
    async with client(opay, rate_limit=50) as limited:
        await limited.close_many([f"A-{n}" for n in range(30)], country="EG", rate_limit=5)
    assert opay.busiest_second() <= 5


async def test_with_options_shares_pool_budget_and_rate(clock: VirtualClock) -> None:
    opay = StampingOPay()
    parent = client(opay, rate_limit=10, retry_budget=RetryBudget(capacity=100, retry_cost=5))
    quick = parent.with_options(timeout=2.0, retry=RetryPolicy.none())
    patient = parent.with_options(retry=RetryPolicy(attempts=5, wait_initial=0, wait_max=0))
    assert quick._sender.exchange.connections is parent._sender.exchange.connections
    assert patient._sender.exchange.connections is parent._sender.exchange.connections
    assert quick.retry_policy.attempts == 1
    assert patient.retry_policy.attempts == 5
    with pytest.raises(ServiceUnavailableError):
        await quick.close_payment(reference="busy-1", country="EG")  # no retry
    outcome = await patient.try_close(CloseRequest(reference="busy-2", country="EG"))
    assert (outcome.ok, outcome.attempts) == (True, 3)
    assert parent.retry_tokens == quick.retry_tokens == 100 - 2 * 5 + 1  # one budget
    await asyncio.gather(
        quick.close_many([f"Q-{n}" for n in range(20)], country="EG"),
        patient.close_many([f"P-{n}" for n in range(20)], country="EG"),
    )
    assert opay.busiest_second() <= 10  # one rate for all three
    await parent.aclose()


async def test_with_options_sends_its_own_timeout() -> None:
    opay = StampingOPay()
    seen: list[dict[str, float]] = []

    def recording(request: hx.Request) -> hx.Response:
        seen.append(request.extensions["timeout"])
        return opay(request)

    async with OPayClient(
        MERCHANT_ID, SECRET_KEY, transport=hx.MockTransport(recording), timeout=30
    ) as parent:
        await parent.with_options(timeout=2.0).close_payment(reference="T-1", country="EG")
        await parent.close_payment(reference="T-2", country="EG")
    assert [entry["read"] for entry in seen] == [2.0, 30.0]


async def test_closing_a_derived_client_leaves_the_parent_open() -> None:
    opay = StampingOPay()
    async with client(opay) as parent:
        derived = parent.with_options(timeout=5.0)
        grandchild = derived.with_options(retry=RetryPolicy.none())
        await derived.aclose()
        assert derived.is_closed and not parent.is_closed
        with pytest.raises(OPayError, match="OPayClient is closed"):
            await derived.close_payment(reference="D-1", country="EG")
        assert (await parent.close_payment(reference="D-2", country="EG")).is_closed
        assert (await grandchild.close_payment(reference="D-3", country="EG")).is_closed
    with pytest.raises(OPayError, match="derived from"):
        await grandchild.close_payment(reference="D-4", country="EG")
    with pytest.raises(OPayError, match="OPayClient is closed"):
        parent.with_options(timeout=1.0)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"retry": 3}, "retry"),
    ],
)
def test_with_options_checks_what_it_is_given(options: dict[str, object], field: str) -> None:
    parent = client(StampingOPay())
    with pytest.raises(OPayValidationError) as caught:
        parent.with_options(**options)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize("rate", [0, -1, float("inf"), True, "20"])
def test_a_bad_client_rate_is_refused(rate: object) -> None:
    with pytest.raises(OPayValidationError, match="rate_limit"):
        client(StampingOPay(), rate_limit=rate)
