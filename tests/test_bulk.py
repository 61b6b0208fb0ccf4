"""close_many / iter_close_many: order, concurrency, rate, budget, cancellation, bugs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opay_async import (
    CloseOutcome,
    CloseRequest,
    OPayClient,
    OPayValidationError,
    PaymentNotFoundError,
    RetryBudget,
    RetryPolicy,
    ServiceUnavailableError,
)
from opay_async._bulk import close_many
from opay_async._clock import VirtualClock, reset_clock, use_clock
from opay_async._http._pool import PoolRoute
from tests.helpers import MERCHANT_ID, SECRET_KEY, CountingOPay, LoopbackOPay, hx, own_pool

MERCHANT = MERCHANT_ID
KEY = SECRET_KEY


@contextlib.asynccontextmanager
async def mocked_client(recorder: CountingOPay, **options: object) -> AsyncIterator[OPayClient]:
    async with (
        hx.AsyncClient(transport=hx.MockTransport(recorder)) as http,
        OPayClient(MERCHANT, KEY, http_client=http, **options) as client,  # type: ignore[arg-type]
    ):
        yield client


async def test_outcomes_come_back_in_input_order(opay_instant_retries: VirtualClock) -> None:
    recorder = CountingOPay(delay=0.002, jitter=True)
    references = [f"{kind}-{i}" for i in range(40) for kind in ("ok", "missing", "flaky")]
    async with mocked_client(recorder) as client:
        outcomes = await client.close_many(references, country="EG", concurrency=8)

    assert [o.request.reference for o in outcomes if o.request] == references
    assert [o.index for o in outcomes] == list(range(len(references)))
    for outcome in outcomes:
        assert outcome.request is not None
        kind = outcome.request.reference.split("-")[0]  # type: ignore[union-attr]
        if kind == "ok":
            assert outcome.ok and outcome.attempts == 1
            assert outcome.payment is not None and outcome.payment.is_closed
        elif kind == "missing":
            assert not outcome.ok and outcome.attempts == 1
            assert isinstance(outcome.error, PaymentNotFoundError)
            assert outcome.error.reference == outcome.request.reference
        else:
            assert outcome.ok and outcome.attempts == 3
    assert len(opay_instant_retries.sleeps) == 2 * 40  # two waits per flaky item, none real


async def test_iter_close_many_yields_every_item_once_in_completion_order() -> None:
    recorder = CountingOPay(delay=0.003, jitter=True)
    references = [f"ok-{i}" for i in range(60)]
    async with mocked_client(recorder) as client:
        seen = [o.index async for o in client.iter_close_many(references, country="NG")]
    assert sorted(seen) == list(range(60))


@pytest.mark.parametrize(("concurrency", "items"), [(1, 10), (7, 50), (25, 30)])
async def test_concurrency_is_never_exceeded_and_is_reached(concurrency: int, items: int) -> None:
    recorder = CountingOPay(delay=0.005)
    async with mocked_client(recorder) as client:
        outcomes = await client.close_many(
            [f"ok-{i}" for i in range(items)], country="EG", concurrency=concurrency
        )
    assert all(o.ok for o in outcomes)
    assert recorder.max_in_flight == min(concurrency, items)


async def test_rate_limit_spaces_attempts_retries_included() -> None:
    clock = VirtualClock(follow_real_time=False)  # exact times: only sleeps move it
    token = use_clock(clock)
    started: list[float] = []
    recorder = CountingOPay()

    async def timed(request: hx.Request) -> hx.Response:
        started.append(clock.now())
        return await recorder(request)

    references = [f"ok-{i}" for i in range(20)] + [f"flaky-{i}" for i in range(5)]
    async with (
        hx.AsyncClient(transport=hx.MockTransport(timed)) as http,
        OPayClient(
            MERCHANT, KEY, http_client=http, retry=RetryPolicy(wait_initial=0, wait_max=0)
        ) as client,
    ):
        outcomes = await client.close_many(references, country="EG", concurrency=10, rate_limit=10)

    assert all(o.ok for o in outcomes)
    assert len(started) == 20 + 5 * 3
    started.sort()
    # No 1-second window holds more than 10 attempt starts (0.1 s apart at least).
    gaps = [b - a for a, b in itertools.pairwise(started)]
    reset_clock(token)
    assert min(gaps) >= 0.1 - 1e-9
    assert started[-1] - started[0] == pytest.approx((len(started) - 1) * 0.1)


async def test_async_iterable_input_is_pulled_lazily() -> None:
    pulled = 0

    async def references() -> AsyncIterator[CloseRequest | str]:
        nonlocal pulled
        for i in range(30):
            pulled += 1
            yield CloseRequest(order_no=f"{i:018d}", country="EG") if i % 2 else f"ok-{i}"

    recorder = CountingOPay(delay=0.001)
    async with mocked_client(recorder) as client:
        outcomes = await client.close_many(references(), country="EG", concurrency=4)
    assert pulled == 30
    assert len(outcomes) == 30
    assert all(o.ok for o in outcomes)
    assert outcomes[1].request == CloseRequest(order_no=f"{1:018d}", country="EG")


async def test_iter_close_many_holds_only_a_window_of_the_input() -> None:
    pulled = 0

    def references() -> Iterator[str]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield f"ok-{i}"

    recorder = CountingOPay()
    async with mocked_client(recorder) as client:
        stream = client.iter_close_many(references(), country="EG", concurrency=5)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for outcome in stream:
                assert outcome.ok
                break
    # One yielded outcome: the workers pulled a window of about 2 x concurrency, not N.
    assert pulled <= 5 * 3
    assert recorder.sent <= 5 * 3


async def test_invalid_items_become_failed_outcomes_without_being_sent() -> None:
    recorder = CountingOPay()
    items: list[object] = ["ok-1", "", "   ", 42, None, "ok-2"]
    async with mocked_client(recorder) as client:
        outcomes = await client.close_many(items, country="EG")  # type: ignore[arg-type]
    assert [o.ok for o in outcomes] == [True, False, False, False, False, True]
    for outcome in outcomes[1:5]:
        assert outcome.attempts == 0
        assert outcome.request is None
        assert isinstance(outcome.error, OPayValidationError)
    assert outcomes[1].error is not None and "must not be empty" in str(outcomes[1].error)
    assert outcomes[3].error is not None and "requests[3]" in str(outcomes[3].error)
    assert recorder.sent == 2


async def test_duplicates_each_get_their_own_outcome() -> None:
    recorder = CountingOPay()
    async with mocked_client(recorder) as client:
        outcomes = await client.close_many(["ok-1", "ok-1", "ok-1"], country="EG")
    assert len(outcomes) == 3
    assert recorder.attempts["ok-1"] == 3


async def test_plain_references_without_country_is_a_clear_error() -> None:
    recorder = CountingOPay()
    async with mocked_client(recorder) as client:
        with pytest.raises(OPayValidationError, match="country=") as caught:
            await client.close_many(["ok-1", "ok-2"])
    assert caught.value.field == "country"
    assert recorder.sent == 0


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": float("inf")}, "rate_limit"),
        ({"country": "EGY"}, "country"),
    ],
)
async def test_bad_bulk_options_are_rejected_before_sending(
    options: dict[str, object], field: str
) -> None:
    recorder = CountingOPay()
    async with mocked_client(recorder) as client:
        with pytest.raises(OPayValidationError) as caught:
            await client.close_many(["ok-1"], **{"country": "EG", **options})  # type: ignore[arg-type]
    assert caught.value.field == field
    assert recorder.sent == 0


async def test_a_single_string_is_not_taken_for_a_list_of_references() -> None:
    async with mocked_client(CountingOPay()) as client:
        with pytest.raises(OPayValidationError, match="not one string"):
            await client.close_many("ok-1", country="EG")


async def test_retry_budget_empties_during_an_outage_and_refills(
    opay_instant_retries: VirtualClock,
) -> None:
    recorder = CountingOPay()
    async with mocked_client(
        recorder, retry_budget=RetryBudget(capacity=20, retry_cost=5, success_refund=1)
    ) as client:
        outcomes = await client.close_many([f"down-{i}" for i in range(30)], country="EG")
        assert all(isinstance(o.error, ServiceUnavailableError) for o in outcomes)
        # 20 tokens pay for 4 retries in all; the other items are sent once.
        assert recorder.sent == 30 + 4
        assert sum(o.attempts for o in outcomes) == recorder.sent
        assert client.retry_tokens == 0

        await client.close_many([f"ok-{i}" for i in range(7)], country="EG")
        assert client.retry_tokens == 7


async def test_full_outage_does_not_multiply_load(opay_instant_retries: VirtualClock) -> None:
    recorder = CountingOPay()
    async with mocked_client(recorder) as client:  # default policy and budget
        outcomes = await client.close_many(
            [f"down-{i}" for i in range(2000)], country="EG", concurrency=50
        )
    assert not any(o.ok for o in outcomes)
    default = RetryBudget()
    assert recorder.sent == 2000 + default.max_retries_when_failing  # 2100, not 8000


async def test_on_progress_sees_every_outcome() -> None:
    seen: list[CloseOutcome] = []
    async with mocked_client(CountingOPay()) as client:
        outcomes = await client.close_many(
            [f"ok-{i}" for i in range(25)], country="EG", on_progress=seen.append
        )
    assert sorted(o.index for o in seen) == list(range(25))
    assert set(map(id, seen)) == set(map(id, outcomes))


def busy_connections(transport: PoolRoute) -> int:
    """Connections of the transport's httpcore pools that are not idle (in use)."""
    busy = 0
    for shard in transport._shards.shards:
        if shard.transport is not None:  # bound by a request
            busy += sum(1 for c in shard.transport._pool.connections if not c.is_idle())
    return busy


def _other_tasks(server: LoopbackOPay | None = None) -> set[asyncio.Task[object]]:
    """Unfinished tasks other than this test's own and the loopback server's."""
    ignored = server.handler_tasks if server else set()
    return {
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and not t.done() and t not in ignored
    }


async def test_a_bug_in_a_callback_surfaces_and_stops_the_run() -> None:
    recorder = CountingOPay(delay=0.001)

    def explode(outcome: CloseOutcome) -> None:
        if outcome.index == 3:
            raise RuntimeError("bug in progress callback")

    async with mocked_client(recorder) as client:
        with pytest.raises(RuntimeError, match="bug in progress callback"):
            await client.close_many(
                [f"ok-{i}" for i in range(500)], country="EG", on_progress=explode
            )
        assert not _other_tasks()
        assert recorder.sent < 500


async def test_a_failing_input_iterator_surfaces() -> None:
    def references() -> Iterator[str]:
        yield "ok-1"
        raise LookupError("database cursor died")

    async with mocked_client(CountingOPay()) as client:
        with pytest.raises(LookupError, match="cursor died"):
            await client.close_many(references(), country="EG")
        assert not _other_tasks()


async def test_a_bug_inside_a_worker_surfaces_not_as_an_outcome() -> None:
    sent: list[str | None] = []

    async def broken(
        request: CloseRequest, *, index: int = 0, limiter: object = None, run: object = None
    ) -> CloseOutcome:
        sent.append(request.reference)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await close_many(broken, ["ok-1", "ok-2"], country="EG")  # type: ignore[arg-type]
    assert sent  # the bug happened inside a worker, and came out of the run
    assert not _other_tasks()


async def test_cancelling_mid_run_is_prompt_and_leaks_nothing() -> None:
    server = LoopbackOPay()
    async with server.running() as base_url:
        client = OPayClient(MERCHANT, KEY, base_url=base_url, max_connections=20)
        transport = (await own_pool(client))._transport
        assert isinstance(transport, PoolRoute)
        references = [f"ok-{i}" for i in range(10)] + [f"hang-{i}" for i in range(200)]
        run = asyncio.create_task(client.close_many(references, country="EG", concurrency=20))
        for _ in range(500):
            await asyncio.sleep(0.005)
            if server.in_flight == 20:
                break
        assert server.in_flight == 20
        assert busy_connections(transport) == 20

        loop = asyncio.get_running_loop()
        started = loop.time()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert loop.time() - started < 0.5
        assert not _other_tasks(server)
        assert transport.in_flight == 0
        assert busy_connections(transport) == 0

        # The client stays usable after the cancellation.
        payment = await client.close_payment(reference="ok-after", country="EG")
        assert payment.is_closed
        await client.aclose()
        assert transport.in_flight == 0


async def test_leaving_iter_close_many_early_cancels_requests_in_flight() -> None:
    server = LoopbackOPay()
    async with server.running() as base_url:
        async with OPayClient(MERCHANT, KEY, base_url=base_url) as client:
            references = ["ok-0"] + [f"hang-{i}" for i in range(50)]
            stream = client.iter_close_many(references, country="EG", concurrency=5)
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for outcome in stream:
                    assert outcome.ok
                    break
            assert not _other_tasks(server)
            transport = (await own_pool(client))._transport
            assert isinstance(transport, PoolRoute)
            assert transport.in_flight == 0
            assert busy_connections(transport) == 0


@settings(max_examples=30)
@given(
    kinds=st.lists(st.sampled_from(["ok", "missing", "", 7]), max_size=30),
    concurrency=st.integers(1, 12),
)
def test_one_outcome_per_item_whatever_the_input(kinds: list[object], concurrency: int) -> None:
    items = [f"{k}-{i}" if isinstance(k, str) and k else k for i, k in enumerate(kinds)]

    async def run() -> list[CloseOutcome]:
        async with mocked_client(CountingOPay()) as client:
            return await client.close_many(items, country="EG", concurrency=concurrency)  # type: ignore[arg-type]

    outcomes = asyncio.run(run())
    assert len(outcomes) == len(items)
    for item, outcome in zip(items, outcomes, strict=True):
        expect_ok = isinstance(item, str) and item.startswith("ok")
        assert outcome.ok is expect_ok
        assert (outcome.payment is None) is not expect_ok
