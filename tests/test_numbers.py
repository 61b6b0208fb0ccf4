"""Numbers too large to be numbers: every public number parameter, every hostile value.

Each parameter either takes a value in its documented range or raises
``OPayValidationError`` naming it: never ``OverflowError`` (``math.isfinite(10**400)``),
never ``ValueError`` from quoting an int of 5000 digits, never a value accepted that
breaks later. The expected answer is computed here from each parameter's documented
range, independently of the package's checker.
"""

from __future__ import annotations

import asyncio
import math
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opay_async import (
    Amount,
    OPayClient,
    OPayValidationError,
    RetryBudget,
    RetryPolicy,
    ShardedTransport,
)
from opay_async.testing import FakeOPay, Fault, FaultKind, FaultRates, parse_latency

#: What an attacker, or an unlucky config file, passes where a number is wanted.
HOSTILE: tuple[object, ...] = (
    10**400,
    -(10**400),
    10**5000,  # repr() of it raises ValueError (more than 4300 digits)
    -(10**5000),
    2**1024,  # one past the largest float
    float("inf"),
    float("-inf"),
    float("nan"),
    1e308,
    -1e308,
    True,
    False,
    "5",
    "1e400",
    b"5",
    None,
    [5],
    {"n": 5},
    5j,
)
NUMBERS = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # nan, inf, subnormals, 1e308
    st.floats(min_value=-1e6, max_value=1e6),
    st.text(max_size=3),
)


@attrs.frozen
class Parameter:
    """One public number parameter: how to set it and its documented range."""

    name: str  # the test id
    field: str  # what the error must name
    apply: Callable[[object], object]
    integer: bool
    low: float
    high: float
    low_open: bool = False  # ``> low`` rather than ``>= low``
    optional: bool = False  # ``None`` is accepted (no limit)
    header: bool = False  # text is taken as it is (printable ASCII): a header value

    def refuses_always(self, value: object) -> bool:
        """Whether ``value`` is one of the issue's list this parameter must refuse."""
        return not (value is None or (self.header and isinstance(value, str)))

    def accepts(self, value: object) -> bool:
        """The documented answer, computed without the package's checker."""
        if value is None:
            return self.optional
        if self.header and isinstance(value, str):
            return value.isascii() and value.isprintable()
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if isinstance(value, float) and math.isnan(value):
            return False
        above_low = value > self.low if self.low_open else value >= self.low
        return above_low and value <= self.high


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _close_with_client(**options: object) -> None:
    fake = FakeOPay(auto_create=True)
    async with fake.client(**options) as opay:
        await opay.close_payment(reference="N-1", country="EG")
    assert fake.closed_count == 1


async def _own_pool(max_connections: object) -> None:
    client = OPayClient(FakeOPay().merchant_id, "OPAYPRV_k", max_connections=max_connections)
    await client.aclose()


async def _with_options(seconds: object) -> None:
    fake = FakeOPay(auto_create=True)
    async with fake.client() as opay:
        await opay.with_options(timeout=seconds).close_payment(reference="N-1", country="EG")


async def _close_many(**options: object) -> None:
    fake = FakeOPay(auto_create=True)
    async with fake.client() as opay:
        outcomes = await opay.close_many([{"reference": "N-1"}], country="EG", **options)
    assert [outcome.ok for outcome in outcomes] == [True]


async def _iter_close_many(**options: object) -> None:
    fake = FakeOPay(auto_create=True)
    async with fake.client() as opay:
        seen = [o.ok async for o in opay.iter_close_many(["N-1"], country="EG", **options)]
    assert seen == [True]


async def _sharded(**options: object) -> None:
    transport = ShardedTransport(**options)
    await transport.aclose()


def _fake_latency(value: object) -> None:
    FakeOPay().latency = value


DAY = 86_400.0
BIG = 10**9
PARAMETERS = [
    Parameter("attempts", "attempts", lambda v: RetryPolicy(attempts=v), True, 1, 1000),
    Parameter("retry.timeout", "timeout", lambda v: RetryPolicy(timeout=v), False, 0, DAY, True),
    Parameter("wait_initial", "wait_initial", lambda v: RetryPolicy(wait_initial=v), False, 0, DAY),
    Parameter("wait_max", "wait_max", lambda v: RetryPolicy(wait_max=v), False, 0, DAY),
    Parameter("capacity", "capacity", lambda v: RetryBudget(capacity=v), True, 0, BIG),
    Parameter("retry_cost", "retry_cost", lambda v: RetryBudget(retry_cost=v), True, 1, BIG),
    Parameter("refund", "success_refund", lambda v: RetryBudget(success_refund=v), True, 0, BIG),
    Parameter(  # None: not given (30 s; a caller's http_client's own timeouts)
        "client.timeout",
        "timeout",
        lambda v: _run(_close_with_client(timeout=v)),
        False,
        0,
        DAY,
        True,
        optional=True,
    ),
    Parameter(
        "client.rate_limit",
        "rate_limit",
        lambda v: _run(_close_with_client(rate_limit=v)),
        False,
        1 / DAY,
        1e6,
        optional=True,
    ),
    Parameter(
        "client.max_connections",
        "max_connections",
        lambda v: _run(_own_pool(v)),
        True,
        1,
        10_000,
    ),
    Parameter(
        "with_options.timeout",
        "timeout",
        lambda v: _run(_with_options(v)),
        False,
        0,
        DAY,
        True,
        True,
    ),
    Parameter(
        "concurrency", "concurrency", lambda v: _run(_close_many(concurrency=v)), True, 1, 10_000
    ),
    Parameter(
        "close_many.rate_limit",
        "rate_limit",
        lambda v: _run(_close_many(rate_limit=v)),
        False,
        1 / DAY,
        1e6,
        optional=True,
    ),
    Parameter(
        "iter.concurrency",
        "concurrency",
        lambda v: _run(_iter_close_many(concurrency=v)),
        True,
        1,
        10_000,
    ),
    Parameter(
        "iter.rate_limit",
        "rate_limit",
        lambda v: _run(_iter_close_many(rate_limit=v)),
        False,
        1 / DAY,
        1e6,
        optional=True,
    ),
    Parameter(
        "shard.max_connections",
        "max_connections",
        lambda v: _run(_sharded(max_connections=v)),
        True,
        1,
        10_000,
    ),
    Parameter(
        "shard_size",
        "shard_size",
        lambda v: _run(_sharded(shard_size=v, max_connections=1)),
        True,
        1,
        10_000,
    ),
    Parameter("amount.total", "total", lambda v: Amount(v, "EGP"), True, 0, 10**18 - 1),
    Parameter(
        "record_limit",
        "record_limit",
        lambda v: FakeOPay(record_limit=v),
        True,
        0,
        10**7,
        optional=True,
    ),
    Parameter("fail_next", "n", lambda v: FakeOPay().fail_next(v), True, 0, 10_000),
    Parameter("fail_next_http", "n", lambda v: FakeOPay().fail_next_http(v), True, 0, 10_000),
    Parameter("status", "status", lambda v: FakeOPay().fail_next_http(status=v), True, 400, 599),
    Parameter(
        "retry_after",
        "retry_after",
        lambda v: FakeOPay().fail_next_http(retry_after=v),
        False,
        0,
        DAY,
        optional=True,
        header=True,
    ),
    Parameter("malformed_next", "n", lambda v: FakeOPay().malformed_next(v), True, 0, 10_000),
    Parameter("drop_next", "n", lambda v: FakeOPay().drop_next(v), True, 0, 10_000),
    Parameter("timeout_next", "n", lambda v: FakeOPay().timeout_next(v), True, 0, 10_000),
    Parameter(
        "fault.status",
        "status",
        lambda v: Fault(kind=FaultKind.HTTP_ERROR, status=v),
        True,
        400,
        599,
    ),
    Parameter("rates.drop", "drop", lambda v: FaultRates(drop=v), False, 0, 1),
    Parameter(
        "set_fault_rates", "http_502", lambda v: FakeOPay().set_fault_rates(http_502=v), False, 0, 1
    ),
    Parameter(
        "seed",
        "seed",
        lambda v: FakeOPay().set_fault_rates(seed=v),
        True,
        -(2**64),
        2**64,
        optional=True,
    ),
    Parameter("latency", "latency", _fake_latency, False, 0, 600),
    Parameter(
        "set_latency",
        "latency",
        lambda v: FakeOPay().set_latency(0, v),
        False,
        0,
        600,
        optional=True,
    ),
]
BY_NAME = {parameter.name: parameter for parameter in PARAMETERS}


def _outcome(parameter: Parameter, value: object) -> bool:
    """Set ``value``; ``True`` if taken, ``False`` if refused naming the field."""
    refused: OPayValidationError | None = None
    try:
        parameter.apply(value)
    except OPayValidationError as error:
        refused = error
    if refused is None:
        return True
    assert refused.field == parameter.field, str(refused)
    assert str(refused).startswith(f"{parameter.field}: ")
    assert len(str(refused)) < 200  # an int of 5000 digits is described, not quoted
    return False


@pytest.mark.parametrize("parameter", PARAMETERS, ids=lambda p: p.name)
def test_hostile_numbers_are_refused_naming_the_field(parameter: Parameter) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        for value in HOSTILE:
            if parameter.refuses_always(value):
                assert _outcome(parameter, value) is False, value
        assert _outcome(parameter, None) is parameter.optional
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - started < 20
    assert peak < 30 * 1024 * 1024  # nothing sized by the value (10**9 faults, shards)


@pytest.mark.parametrize("parameter", PARAMETERS, ids=lambda p: p.name)
@given(value=NUMBERS)
def test_each_number_parameter_takes_exactly_its_range(parameter: Parameter, value: object) -> None:
    assert _outcome(parameter, value) is parameter.accepts(value)


@pytest.mark.parametrize("parameter", PARAMETERS, ids=lambda p: p.name)
def test_the_edges_of_each_range(parameter: Parameter) -> None:
    low, high = parameter.low, parameter.high
    if parameter.integer:
        low_value, high_value = int(low), int(high)
        below, beyond = low_value - 1, high_value + 1
    else:
        low_value, high_value = low, high
        below, beyond = math.nextafter(low, -math.inf), math.nextafter(high, math.inf)
    assert _outcome(parameter, high_value) is True
    assert _outcome(parameter, beyond) is False
    assert _outcome(parameter, below) is False
    assert _outcome(parameter, low_value) is not parameter.low_open


def test_a_refused_huge_int_is_described_not_quoted() -> None:
    with pytest.raises(OPayValidationError) as caught:
        RetryPolicy(attempts=10**5000)
    assert str(caught.value) == (
        "attempts: must be an int >= 1 and <= 1000, got an int of over 4000 digits"
    )
    with pytest.raises(OPayValidationError) as caught:
        OPayClient("256612345678901", "OPAYPRV_k", timeout=-(10**400))
    assert str(caught.value).endswith("got a negative int of 401 digits")


@pytest.mark.parametrize(
    "spec", ["1e400", "inf", "nan", "-1", "9" * 400, "0.1-1e400", "700", "0.5-0.1", "x"]
)
def test_parse_latency_refuses_hostile_text(spec: str) -> None:
    with pytest.raises(OPayValidationError) as caught:
        parse_latency(spec)
    assert caught.value.field == "latency"
