"""Fuzz: whatever OPay (or a proxy) answers, the SDK returns a Payment or raises an OPayError."""

from __future__ import annotations

import asyncio
import json

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from opay_async import OPayClient, OPayError, Payment, RetryPolicy
from tests.helpers import hx, names_only

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
FIELD_VALUES = (
    st.none() | st.integers() | st.text(max_size=12) | st.lists(st.integers(), max_size=2)
)
OPAY_LIKE = st.fixed_dictionaries(
    {"code": st.sampled_from(["00000", "02000", "02006", "50003", "99", "", 0, 50003, None])},
    optional={
        "message": FIELD_VALUES,
        "data": st.none()
        | st.text(max_size=5)
        | st.fixed_dictionaries(
            {},
            optional={
                "reference": FIELD_VALUES,
                "orderNo": FIELD_VALUES,
                "country": st.sampled_from(["EG", "ng", "X", "", 12, None]),
                "orderStatus": st.sampled_from(
                    ["INITIAL", "PENDING", "SUCCESS", "FAIL", "CLOSE", "REVERSED", "", 3, None]
                ),
                "amount": st.none()
                | st.fixed_dictionaries(
                    {}, optional={"total": FIELD_VALUES, "currency": FIELD_VALUES}
                ),
            },
        ),
    },
)


#: Successes about the payment asked for, varied: the Payment branch below must be reached.
SUCCESS_LIKE = st.fixed_dictionaries(
    {
        "code": st.sampled_from(["00000", "00"]),
        "message": FIELD_VALUES,
        "data": st.fixed_dictionaries(
            {"orderStatus": st.sampled_from(["CLOSE", "CLOSE", "CLOSE", "SUCCESS"])},
            optional={
                "reference": st.sampled_from(["FUZZ-1", "FUZZ-1", "FUZZ-2", 7]),
                "orderNo": FIELD_VALUES,
                "country": st.sampled_from(["EG", "EG", "NG"]),
                "amount": st.none()
                | st.fixed_dictionaries(
                    {}, optional={"total": FIELD_VALUES, "currency": FIELD_VALUES}
                ),
            },
        ),
    }
)


def bodies() -> st.SearchStrategy[bytes]:
    encoded = st.one_of(JSON, OPAY_LIKE, SUCCESS_LIKE).map(lambda value: json.dumps(value).encode())
    return st.one_of(
        encoded,
        SUCCESS_LIKE.map(lambda value: json.dumps(value).encode()),
        encoded.flatmap(lambda body: st.integers(0, len(body)).map(lambda cut: body[:cut])),
        st.binary(max_size=300),
        st.just(b"{" * 100_000),  # deeply nested garbage
        st.just(b'{"code":"00000","data":{"orderStatus":"CLOSE","x":"' + b"a" * 2_000_000 + b'"}}'),
    )


#: What the property below saw: a run that never reaches the Payment branch fails.
REACHED: dict[str, int] = {"payment": 0, "error": 0}


@settings(max_examples=150)
@example(
    status=200,
    body=b'{"code": "00000", "data": {"orderStatus": "CLOSE", "reference": "FUZZ-1"}}',
    content_type="application/json",
    retry_after=None,
)
@given(
    status=st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 404, 429, 500, 502, 503]),
    body=bodies(),
    content_type=st.sampled_from(["application/json", "text/html", "text/plain; charset=utf-8"]),
    retry_after=st.none() | st.sampled_from(["0", "1", "junk", "Wed, 21 Oct 2015 07:28:00 GMT"]),
)
def any_answer_is_a_payment_or_an_opay_error(
    status: int, body: bytes, content_type: str, retry_after: str | None
) -> None:
    headers = {"Content-Type": content_type}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    transport = hx.MockTransport(lambda _: hx.Response(status, content=body, headers=headers))

    async def close() -> object:
        async with OPayClient(
            "256612345678901", "OPAYPRV_fuzz", transport=transport, retry=RetryPolicy.none()
        ) as opay:
            try:
                async with asyncio.timeout(5):  # never hangs
                    return await opay.close_payment(reference="FUZZ-1", country="EG")
            except OPayError as error:
                return error

    result = asyncio.run(close())  # anything but a Payment or an OPayError fails the test here
    if isinstance(result, Payment):
        REACHED["payment"] += 1
        event("a Payment")
        sent = json.loads(body)  # an independent reading of what was answered
        assert 200 <= status < 300
        assert sent["code"] in {"00000", "00"}
        assert sent["data"]["orderStatus"] == "CLOSE"
        assert names_only(sent["data"], "FUZZ-1", "EG")
        assert result.reference == "FUZZ-1"  # never a payment other than the one asked for
        assert result.is_closed
    else:
        REACHED["error"] += 1
        event("an OPayError")
        assert isinstance(result, OPayError)
        assert result.reference == "FUZZ-1"
        assert str(result).isprintable()  # no control characters reach a terminal or a log
        assert len(str(result)) < 600  # a huge body is not copied into the message


def test_any_answer_is_a_payment_or_an_opay_error() -> None:
    REACHED.update(payment=0, error=0)
    any_answer_is_a_payment_or_an_opay_error()
    assert REACHED["payment"] > 0  # the Payment branch's assertions ran
    assert REACHED["error"] > 0
