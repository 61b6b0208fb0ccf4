"""A bulk run stops on a dead key: after a fatal answer nothing new is sent.

``close_many`` / ``iter_close_many`` stop sending at the first outcome whose error is
``fatal`` (02000, 02002, 02007, HTTP 401): requests in flight finish, every other item
gets a ``RunStoppedError`` outcome (``ok`` stays exactly "closed"), and
``stop_on_fatal=False`` keeps sending. The handlers here count what arrives after the
first fatal answer went out, and after the SDK logged the stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pickle
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opay_async import (
    AuthenticationError,
    CloseOutcome,
    CloseRequest,
    InvalidRequestError,
    MerchantNotAvailableError,
    MerchantNotConfiguredError,
    OPayAPIError,
    OPayClient,
    OPayConnectionError,
    OPayError,
    OPayHTTPError,
    OPayValidationError,
    PaymentNotFoundError,
    RetryPolicy,
    RunStoppedError,
    ServiceUnavailableError,
)
from opay_async._clock import reset_clock, use_clock
from opay_async._errors import api_error_for
from opay_async._stop import RunStop, describe
from tests.helpers import (
    MERCHANT_ID,
    SECRET_KEY,
    KeyRotatedMidRun,
    failure,
    hx,
    success,
)

#: Seconds (real) a test that should end at once may take before it fails instead of hanging.
BOUND = 20

FATAL_ANSWERS: dict[str, Callable[[], Any]] = {
    "02000": lambda: failure("02000", "authentication failed."),
    "02002": lambda: failure("02002", "merchant not configured with this function."),
    "02007": lambda: failure("02007", "merchant not available."),
    "HTTP 401": lambda: hx.Response(401, text="Unauthorized"),
}
FATAL_TYPES = {
    "02000": AuthenticationError,
    "02002": MerchantNotConfiguredError,
    "02007": MerchantNotAvailableError,
    "HTTP 401": OPayHTTPError,
}


class DyingKey:
    """A MockTransport handler: ``CLOSE`` for the first ``closes`` requests, then ``fatal``.

    References starting with ``flaky`` get ``50003`` on their first request (counted as
    one of the ``closes``-th answers only when it is a close). Answers come back in a
    shuffled order (each waits a few turns of the loop, no time passes), so several are
    in flight at once.
    """

    def __init__(self, closes: int, fatal: Callable[[], Any] = FATAL_ANSWERS["02000"]) -> None:
        self.closes = closes
        self.fatal = fatal
        self.arrived = 0
        self.answered = 0
        self.closed: set[str] = set()
        self.at_first_fatal: int | None = None  # arrivals when the first fatal answer left
        self.tried: set[str] = set()

    async def __call__(self, request: Any) -> Any:
        self.arrived += 1
        number = self.arrived
        body = json.loads(request.content)
        reference = body["reference"]
        for _ in range(number * 7 % 5):
            await asyncio.sleep(0)  # a turn of the loop: others answer meanwhile
        if reference.startswith("flaky") and reference not in self.tried:
            self.tried.add(reference)
            return failure("50003", "service not available, please try again")
        self.answered += 1
        if self.answered <= self.closes:
            self.closed.add(reference)
            return hx.Response(200, json=success(body))
        if self.at_first_fatal is None:
            self.at_first_fatal = self.arrived
        return self.fatal()

    @property
    def after_first_fatal(self) -> int:
        """Requests that arrived after the first fatal answer went out."""
        return 0 if self.at_first_fatal is None else self.arrived - self.at_first_fatal


class AtStop(logging.Handler):
    """Notes how many requests had arrived when the SDK logged the stop."""

    def __init__(self, opay: DyingKey) -> None:
        super().__init__()
        self.opay = opay
        self.arrived: int | None = None
        self.stops = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("stopping the run"):
            self.stops += 1
            self.arrived = self.opay.arrived


@contextlib.contextmanager
def watching(opay: DyingKey) -> Iterator[AtStop]:
    handler = AtStop(opay)
    logger = logging.getLogger("opay_async")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@contextlib.asynccontextmanager
async def client_of(handler: Any, **options: Any) -> AsyncIterator[OPayClient]:
    async with (
        hx.AsyncClient(transport=hx.MockTransport(handler)) as http,
        OPayClient(MERCHANT_ID, SECRET_KEY, http_client=http, **options) as client,
    ):
        yield client


class StuckClock:
    """A clock whose sleeps never end: a wait ends only if something ends it."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.Event().wait()


@contextlib.contextmanager
def stuck_clock() -> Iterator[StuckClock]:
    clock = StuckClock()
    token = use_clock(clock)
    try:
        yield clock
    finally:
        reset_clock(token)


def check_stopped(
    outcomes: list[CloseOutcome], opay: DyingKey, fatal: type[OPayError], concurrency: int
) -> None:
    """What every stopped run must show."""
    assert opay.after_first_fatal <= concurrency
    ok = {o.request.reference for o in outcomes if o.ok and o.request}
    assert ok == opay.closed  # ok is exactly "closed"
    fatal_outcomes = [o for o in outcomes if isinstance(o.error, fatal)]
    assert fatal_outcomes  # the item that met it keeps its own error
    assert all(not isinstance(o.error, RunStoppedError) for o in fatal_outcomes)
    stopped = [o for o in outcomes if isinstance(o.error, RunStoppedError)]
    assert len(ok) + len(fatal_outcomes) + len(stopped) == len(outcomes)
    first = {id(o.error.stopped_by) for o in stopped}  # type: ignore[union-attr]
    assert len(first) <= 1  # one stop, the first fatal error, for all
    for outcome in stopped:
        error = outcome.error
        assert isinstance(error, RunStoppedError)
        assert isinstance(error.stopped_by, fatal)
        assert error.__cause__ is error.stopped_by
        assert error.retryable and not error.fatal
        assert outcome.attempts == 0
        assert outcome.request is not None and error.reference == outcome.request.reference
        assert str(error).startswith("not sent: the run stopped on ")


# -- the stop --------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 50])
@pytest.mark.parametrize("code", list(FATAL_ANSWERS))
async def test_a_fatal_answer_stops_the_sending(concurrency: int, code: str) -> None:
    opay = DyingKey(closes=300, fatal=FATAL_ANSWERS[code])
    references = [f"R-{n}" for n in range(3_000)]
    with watching(opay) as at_stop:
        async with client_of(opay) as client, asyncio.timeout(BOUND):
            outcomes = await client.close_many(references, country="EG", concurrency=concurrency)
    assert [o.index for o in outcomes] == list(range(len(references)))  # input order
    assert [o.request.reference for o in outcomes if o.request] == references
    check_stopped(outcomes, opay, FATAL_TYPES[code], concurrency)
    assert at_stop.stops == 1
    assert at_stop.arrived == opay.arrived  # nothing at all was sent once the run stopped
    assert opay.arrived < 300 + concurrency + 1
    if concurrency == 1:  # nothing was in flight: the fatal item was the last one sent
        assert opay.arrived == 301
        assert sum(isinstance(o.error, RunStoppedError) for o in outcomes) == 3_000 - 301


async def test_iter_close_many_yields_the_fatal_outcome_before_any_item_not_sent() -> None:
    opay = DyingKey(closes=40)
    references = [f"R-{n}" for n in range(500)]
    async with client_of(opay) as client, asyncio.timeout(BOUND):
        stream = client.iter_close_many(references, country="EG", concurrency=20)
        async with contextlib.aclosing(stream):
            outcomes = [outcome async for outcome in stream]
    assert sorted(o.index for o in outcomes) == list(range(500))  # one each, any order
    kinds = [type(o.error).__name__ if o.error else "ok" for o in outcomes]
    first_fatal = kinds.index("AuthenticationError")
    assert "RunStoppedError" not in kinds[:first_fatal]
    assert kinds.count("RunStoppedError") > 400  # the requests in flight may end later
    check_stopped(sorted(outcomes, key=lambda o: o.index), opay, AuthenticationError, 20)


async def test_keep_going_sends_every_item_as_before() -> None:
    opay = DyingKey(closes=30)
    references = [f"R-{n}" for n in range(300)]
    with watching(opay) as at_stop:
        async with client_of(opay) as client, asyncio.timeout(BOUND):
            outcomes = await client.close_many(
                references, country="EG", concurrency=10, stop_on_fatal=False
            )
    assert opay.arrived == 300
    assert at_stop.stops == 0
    assert sum(o.ok for o in outcomes) == 30
    assert all(isinstance(o.error, AuthenticationError) for o in outcomes if not o.ok)
    stream = None
    async with client_of(DyingKey(closes=0)) as client:
        stream = client.iter_close_many(["A", "B"], country="EG", stop_on_fatal=False)
        async with contextlib.aclosing(stream):
            errors = [type(o.error) async for o in stream]
    assert errors == [AuthenticationError, AuthenticationError]


async def test_retries_waiting_at_the_stop_are_not_sent_again() -> None:
    """The stop ends their backoff at once (the clock here never ends a wait)."""
    flaky = [f"flaky-{n}" for n in range(5)]
    references = [*flaky, "dead", *[f"R-{n}" for n in range(20)]]
    sleeping = asyncio.Event()

    class WaitsForTheRetries(DyingKey):
        async def __call__(self, request: Any) -> Any:
            if json.loads(request.content)["reference"] == "dead":
                await sleeping.wait()  # the five retries are waiting their backoff
            return await super().__call__(request)

    class TellsWhenAllWait(StuckClock):
        async def sleep(self, seconds: float) -> None:
            if len(self.sleeps) + 1 == len(flaky):
                sleeping.set()
            await super().sleep(seconds)

    opay = WaitsForTheRetries(closes=0)
    retry = RetryPolicy(attempts=3, wait_initial=5.0, wait_max=5.0)
    clock = TellsWhenAllWait()
    token = use_clock(clock)
    try:
        async with client_of(opay, retry=retry) as client, asyncio.timeout(BOUND):
            outcomes = await client.close_many(references, country="EG", concurrency=6)
    finally:
        reset_clock(token)
    assert len(clock.sleeps) == len(flaky)  # each waited, and no longer than the stop
    assert opay.arrived == len(flaky) + 1  # their first attempts and the fatal one
    for outcome in outcomes[:5]:
        assert isinstance(outcome.error, RunStoppedError)
        assert outcome.attempts == 1  # sent once, not sent again
        assert str(outcome.error).startswith("not sent again: the run stopped on ")
    assert isinstance(outcomes[5].error, AuthenticationError)
    assert all(isinstance(o.error, RunStoppedError) and o.attempts == 0 for o in outcomes[6:])


@pytest.mark.parametrize("where", ["call", "client"])
async def test_workers_waiting_for_the_rate_limit_are_not_sent(where: str) -> None:
    """One attempt every 10 s: the first is refused, the others wait no longer."""
    opay = DyingKey(closes=0)
    references = [f"R-{n}" for n in range(30)]
    on_client: dict[str, Any] = {"rate_limit": 0.1} if where == "client" else {}
    on_call: dict[str, Any] = {"rate_limit": 0.1} if where == "call" else {}
    with stuck_clock() as clock:
        async with client_of(opay, **on_client) as client, asyncio.timeout(BOUND):
            outcomes = await client.close_many(references, country="EG", concurrency=8, **on_call)
    assert opay.arrived == 1
    assert clock.sleeps  # the other workers were waiting for their turn
    assert isinstance(outcomes[0].error, AuthenticationError)
    assert all(isinstance(o.error, RunStoppedError) for o in outcomes[1:])


async def test_items_not_sent_take_no_turn_of_the_clients_rate_limit() -> None:
    """Later calls of the client wait only for the turns taken before the stop."""
    opay = DyingKey(closes=0)
    clock = StuckClock()
    token = use_clock(clock)
    try:
        async with client_of(opay, rate_limit=0.1) as client, asyncio.timeout(BOUND):
            await client.close_many([f"R-{n}" for n in range(30)], country="EG", concurrency=8)
            assert len(clock.sleeps) == 7  # turns at 10, 20 ... 70 s: the next is at 80 s
            clock.now = lambda: 80.0  # type: ignore[method-assign]
            with pytest.raises(AuthenticationError):  # its turn is now: sent at once
                await client.close_payment(reference="LATER", country="EG")
    finally:
        reset_clock(token)
    assert opay.arrived == 2


async def test_items_not_valid_keep_their_validation_error_after_the_stop() -> None:
    opay = DyingKey(closes=0)
    items: list[Any] = ["R-0", "R-1", "", {"reference": "R-3", "country": "EGY"}, "R-4"]
    async with client_of(opay) as client:
        outcomes = await client.close_many(items, country="EG", concurrency=1)
    assert [type(o.error) for o in outcomes] == [
        AuthenticationError,
        RunStoppedError,
        OPayValidationError,
        OPayValidationError,
        RunStoppedError,
    ]
    assert [o.attempts for o in outcomes] == [1, 0, 0, 0, 0]


async def test_a_stopped_run_leaves_the_client_and_later_runs_alone() -> None:
    opay = DyingKey(closes=0)
    async with client_of(opay) as client:
        first = await client.close_many(["A", "B", "C"], country="EG", concurrency=1)
        assert opay.arrived == 1
        with pytest.raises(AuthenticationError):
            await client.close_payment(reference="D", country="EG")  # sent: not a run
        outcome = await client.try_close(CloseRequest(reference="E", country="EG"))
        second = await client.close_many(["F", "G"], country="EG", concurrency=1)
    assert opay.arrived == 4  # A, D, E, F: each call sends until it meets the answer
    assert isinstance(outcome.error, AuthenticationError)
    assert [type(o.error) for o in first] == [AuthenticationError, RunStoppedError, RunStoppedError]
    assert [type(o.error) for o in second] == [AuthenticationError, RunStoppedError]


async def test_errors_that_are_not_fatal_never_stop_a_run() -> None:
    answers = [
        failure("02001", "request params not valid."),
        failure("02006", "payment not found."),
        failure("99999", "unknown"),
        hx.Response(403, text="Forbidden"),
        hx.Response(404, text="Not Found"),
        hx.Response(200, text="not json"),
    ]

    async def handler(request: Any) -> Any:
        number = int(json.loads(request.content)["reference"].split("-")[1])
        return answers[number % len(answers)]

    async with client_of(handler, retry=RetryPolicy.none()) as client:
        outcomes = await client.close_many(
            [f"R-{n}" for n in range(60)], country="EG", concurrency=5
        )
    assert not any(isinstance(o.error, RunStoppedError) for o in outcomes)
    assert not any(o.error is not None and o.error.fatal for o in outcomes)


async def test_stop_on_fatal_must_be_a_bool() -> None:
    async with client_of(DyingKey(closes=0)) as client:
        for bad in ("no", 0, None):
            with pytest.raises(OPayValidationError, match="stop_on_fatal: must be True or False"):
                await client.close_many(["A"], country="EG", stop_on_fatal=bad)  # type: ignore[arg-type]


# -- the measurement of the issue: 20,000 references, the key dead after 500 closes ----------


async def test_twenty_thousand_closes_on_a_key_rotated_after_500_send_at_most_50_more() -> None:
    old = SECRET_KEY
    fake = KeyRotatedMidRun(500, old_key=old, new_key="OPAYPRV_rotated_0001", record_limit=0)
    fake.auto_create = True
    references = [f"STALE-{n}" for n in range(20_000)]
    async with (
        OPayClient(fake.merchant_id, old, transport=fake.transport) as client,
        asyncio.timeout(60),
    ):
        outcomes = await client.close_many(references, country="EG", concurrency=50)
    assert fake.after_first_refusal <= 50  # it was 19,499
    assert sum(o.ok for o in outcomes) == 500 == fake.closed_count
    stopped = sum(isinstance(o.error, RunStoppedError) for o in outcomes)
    assert stopped + fake.refused + 500 == 20_000


# -- a property: any concurrency, any place of the first fatal answer, any fatal answer ------


@settings(max_examples=40)
@given(
    items=st.integers(1, 250),
    closes=st.integers(0, 260),
    concurrency=st.integers(1, 60),
    code=st.sampled_from(list(FATAL_ANSWERS)),
    iterate=st.booleans(),
)
def test_any_stopped_run_sends_at_most_the_concurrency_after_the_first_fatal_answer(
    items: int, closes: int, concurrency: int, code: str, iterate: bool
) -> None:
    opay = DyingKey(closes=closes, fatal=FATAL_ANSWERS[code])
    references = [f"R-{n}" for n in range(items)]

    async def run() -> list[CloseOutcome]:
        async with client_of(opay) as client, asyncio.timeout(BOUND):
            if not iterate:
                return await client.close_many(references, country="EG", concurrency=concurrency)
            stream = client.iter_close_many(references, country="EG", concurrency=concurrency)
            async with contextlib.aclosing(stream):
                return sorted([o async for o in stream], key=lambda o: o.index)

    outcomes = asyncio.run(run())
    assert [o.index for o in outcomes] == list(range(items))  # exactly one outcome each
    if closes >= items:
        assert all(o.ok for o in outcomes)
        assert opay.arrived == items
    else:
        check_stopped(outcomes, opay, FATAL_TYPES[code], concurrency)


# -- the stop's waits --------------------------------------------------------------------------


async def test_a_wait_of_a_stopped_run_ends_and_other_cancellations_still_propagate() -> None:
    clock = StuckClock()
    refused = AuthenticationError("02000", "authentication failed.")

    run = RunStop()
    task = asyncio.create_task(run.sleep(clock, 5.0))
    await asyncio.sleep(0)
    run.stop(refused)
    await asyncio.wait_for(task, BOUND)  # ended by the stop, without an exception
    await run.sleep(clock, 5.0)  # a stopped run waits no more
    assert clock.sleeps == [5.0]

    for stop_too in (False, True):
        run = RunStop()
        task = asyncio.create_task(run.sleep(clock, 5.0))
        await asyncio.sleep(0)
        if stop_too:
            run.stop(refused)
        task.cancel()  # the caller's cancellation stands, stopped or not
        with pytest.raises(asyncio.CancelledError):
            await task

    run = RunStop()
    run.stop(refused)
    run.stop(AuthenticationError("02000", "another"))
    assert run.stopped_by is refused  # the first one counts


# -- which errors are fatal, and RunStoppedError itself ----------------------------------------


@pytest.mark.parametrize(
    ("error", "fatal"),
    [
        (api_error_for("02000", "authentication failed."), True),
        (api_error_for("02002", "not configured"), True),
        (api_error_for("02007", "not available"), True),
        (api_error_for("02000", "auth", status_code=401), True),
        (api_error_for("99999", "unknown", status_code=401), True),  # the status is trusted
        (api_error_for("02006", "not found", status_code=401), False),  # the code is known
        (api_error_for("99999", "unknown"), False),
        (api_error_for("02001", "params"), False),
        (api_error_for("50003", "try again"), False),
        (OPayHTTPError(401, "Unauthorized"), True),
        (OPayHTTPError(403, "Forbidden"), False),
        (OPayHTTPError(407, "Proxy Authentication Required"), False),
        (OPayHTTPError(502, "Bad Gateway"), False),
        (OPayConnectionError("TLS certificate verification failed", retryable=False), False),
        (OPayConnectionError("could not reach OPay: ProxyError", retryable=False), False),
        (OPayError("plain"), False),
    ],
    ids=str,
)
def test_fatal_errors_are_the_merchants_not_the_payments(error: OPayError, fatal: bool) -> None:
    assert error.fatal is fatal
    if fatal:
        assert not error.retryable
    assert pickle.loads(pickle.dumps(error)).fatal is fatal


def test_a_fatal_error_is_never_retryable() -> None:
    error = OPayError("contradiction", retryable=True, fatal=True)
    assert (error.retryable, error.fatal) == (False, True)
    assert isinstance(api_error_for("50003", "x"), ServiceUnavailableError)
    assert api_error_for("50003", "x").retryable


def test_run_stopped_error_says_what_and_why_and_travels() -> None:
    cause = api_error_for("02000", "authentication failed.", reference="R-9")
    error = RunStoppedError(cause, reference="R-10", order_no="211")
    assert str(error) == (
        "not sent: the run stopped on AuthenticationError [02000], which no later request "
        "could change (reference='R-10', order_no='211')"
    )
    assert (error.retryable, error.fatal, error.stopped_by) == (True, False, cause)
    assert error.__cause__ is cause and error.__suppress_context__
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again.stopped_by, AuthenticationError)
    assert again.stopped_by.reference == "R-9"
    assert again.__cause__ is again.stopped_by
    assert str(again) == str(error)
    assert repr(again) == repr(error)
    resent = RunStoppedError(OPayHTTPError(401, "Unauthorized"), sent=True)
    assert str(resent) == (
        "not sent again: the run stopped on OPayHTTPError (HTTP 401), which no later "
        "request could change"
    )
    assert describe(PaymentNotFoundError("02006", "x")) == "PaymentNotFoundError [02006]"
    assert describe(InvalidRequestError("02001", "x")) == "InvalidRequestError [02001]"
    assert describe(OPayConnectionError("x")) == "OPayConnectionError"
    assert not isinstance(error, OPayAPIError)  # an OPayError, not an answer


def test_a_record_marks_an_item_not_sent() -> None:
    refused = api_error_for("02000", "authentication failed.")
    outcome = CloseOutcome(
        request=CloseRequest(reference="R-1", country="EG"),
        payment=None,
        error=RunStoppedError(refused, reference="R-1"),
        attempts=0,
        index=7,
    )
    record = outcome.to_record()
    assert not outcome.ok
    assert record["ok"] is False
    assert record["error_type"] == "RunStoppedError"
    assert record["error_code"] is None  # OPay gave this item no answer
    assert record["retryable"] is True
    assert record["attempts"] == 0
    assert record["index"] == 7 and record["reference"] == "R-1"
    assert record["error"] is not None and "AuthenticationError [02000]" in record["error"]
    back = pickle.loads(pickle.dumps(outcome))
    assert isinstance(back.error, RunStoppedError) and back.error.stopped_by.code == "02000"  # type: ignore[attr-defined]
