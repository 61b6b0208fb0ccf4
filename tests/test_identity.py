"""An answer is about the payment asked for, and says one thing, or it is not a success.

A job marks an order cancelled from what the SDK reports: an answer that names another
payment (by reference, order number or country, in whatever form the value comes) or
that says two things (a key repeated in one object, at any depth) must never read as
closed, for every reference the SDK accepts (1 to 128 characters).
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from opay_async import (
    CLOSE_PATH,
    CloseRequest,
    OPayClient,
    OPayResponseError,
    OPayValidationError,
    OrderStatus,
    RetryPolicy,
)
from opay_async._validation import MAX_IDENTIFIER
from opay_async._wire import parse_close_answer
from opay_async.testing import FakeOPay
from tests.helpers import MERCHANT_ID, SECRET_KEY, body_of, hx, signed_for

#: Every reference the SDK accepts: printable, not blank, 1 to 128 characters.
REFERENCES = st.text(min_size=1, max_size=MAX_IDENTIFIER).filter(
    lambda text: text.isprintable() and bool(text.strip())
)
#: Any JSON value an answer may carry in an identifier's place.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**140)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=140),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def success(**data: object) -> bytes:
    fields: dict[str, object] = {"orderStatus": "CLOSE", "amount": {"total": 1, "currency": "EGP"}}
    fields.update(data)
    return json.dumps({"code": "00000", "message": "SUCCESSFUL", "data": fields}).encode()


def is_closed(content: bytes, request: CloseRequest, status: int = 200) -> bool:
    try:
        payment = parse_close_answer(status, None, content, request)
    except OPayResponseError as error:
        message = str(error)
        assert message.isprintable()
        # What was answered is quoted short: the message stays bounded whatever came.
        assert len(message) < 200 + 2 * MAX_IDENTIFIER
        return False
    assert payment.is_closed
    for asked, got in (
        (request.reference, payment.reference),
        (request.order_no, payment.order_no),
    ):
        assert asked is None or got == asked
    assert payment.country == request.country
    return True


def names_the_same(asked: str, value: object) -> bool:
    """The independent reading: the same string, or an integer with the same digits."""
    if isinstance(value, str):
        return value == asked
    return type(value) is int and value >= 0 and str(value) == asked


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(reference=REFERENCES, answered=JSON_VALUES)
@example(reference="R" * 128, answered="X" * 200)  # long references are compared too
@example(reference="SOMEONE", answered="SOMEONE-ELSE\n")
@example(reference="SOMEONE-ELSE", answered="SOMEONE-ELSE\n")
@example(reference="SOMEONE-ELSE", answered=["SOMEONE-ELSE"])
@example(reference="SOMEONE-ELSE", answered={"reference": "SOMEONE-ELSE"})
@example(reference="SOMEONE-ELSE", answered=None)
@example(reference="12345", answered=12345)
@example(reference="012345", answered=12345)
@example(reference="12345", answered=12345.0)
@example(reference="1", answered=True)
def test_any_accepted_reference_answered_with_any_value(reference: str, answered: object) -> None:
    request = CloseRequest(reference=reference, country="EG")
    closed = is_closed(success(reference=answered, country="EG"), request)
    assert closed == names_the_same(reference, answered)
    assert is_closed(success(reference=reference, country="EG"), request)  # its own: closed


@settings(max_examples=200)
@given(order_no=REFERENCES, answered=JSON_VALUES)
def test_any_accepted_order_number_answered_with_any_value(order_no: str, answered: object) -> None:
    request = CloseRequest(order_no=order_no, country="NG")
    closed = is_closed(success(orderNo=answered, reference="SHOP-1", country="NG"), request)
    assert closed == names_the_same(order_no, answered)
    assert is_closed(success(orderNo=order_no, country="NG"), request)


@settings(max_examples=200)
@given(
    answered=JSON_VALUES
    | st.sampled_from(["EG", "eg", "Eg", "NG", "NGA", "EGY", "E", "\uff25\uff27"])
)
def test_the_country_answered_with_any_value(answered: object) -> None:
    request = CloseRequest(reference="SHOP-1", country="EG")
    closed = is_closed(success(reference="SHOP-1", country=answered), request)
    same = isinstance(answered, str) and answered.isascii() and answered.upper() == "EG"
    assert closed == same


def test_identifiers_the_answer_leaves_out_are_not_another_payment() -> None:
    request = CloseRequest(reference="SHOP-1", order_no="211018140366538753", country="EG")
    payment = parse_close_answer(200, None, success(), request)
    assert (payment.reference, payment.order_no, payment.country) == (
        "SHOP-1",
        "211018140366538753",
        "EG",
    )


def test_an_order_number_not_asked_for_is_information_not_identity() -> None:
    request = CloseRequest(reference="SHOP-1", country="EG")
    payment = parse_close_answer(200, None, success(orderNo=["not", "a", "number"]), request)
    assert payment.is_closed
    assert payment.order_no is None  # unreadable, so not kept
    kept = parse_close_answer(200, None, success(orderNo=211018140366538753), request)
    assert kept.order_no == "211018140366538753"


@pytest.mark.parametrize(
    ("answered", "quoted"),
    [
        ("SOMEONE-ELSE\n", r"its reference is 'SOMEONE-ELSE\n'"),
        (["SOMEONE-ELSE"], "its reference is a list"),
        ({"id": "SOMEONE-ELSE"}, "its reference is an object"),
        (None, "its reference is null"),
        (False, "its reference is false"),
        (7, "its reference is the number 7"),
        ("\x1b[2J\u202e" + "X" * 300, r"its reference is '\x1b[2J\u202e" + "X" * 35 + "'..."),
        ("OPAYPRV" + "k" * 20, "its reference is '[redacted]'"),
        ("ab" * 64, "its reference is '[redacted]'"),
        ("x" * 30 + "ab" * 64, "its reference is '" + "x" * 30 + "[redacted]'"),
    ],
)
def test_the_error_quotes_a_short_printable_prefix_of_what_was_answered(
    answered: object, quoted: str
) -> None:
    request = CloseRequest(reference="SHOP-1", country="EG")
    with pytest.raises(OPayResponseError) as caught:
        parse_close_answer(200, None, success(reference=answered), request)
    assert str(caught.value) == (
        f"OPay's answer is about another payment: {quoted} (reference='SHOP-1')"
    )
    assert not caught.value.retryable


def test_a_country_of_another_form_names_both() -> None:
    request = CloseRequest(reference="SHOP-1", country="EG")
    with pytest.raises(OPayResponseError, match="its country is 'NGA', not 'EG'"):
        parse_close_answer(200, None, success(country="NGA"), request)


@pytest.mark.parametrize("length", [1, MAX_IDENTIFIER])
def test_references_of_every_accepted_length_are_sent(length: int) -> None:
    assert CloseRequest(reference="R" * length, country="EG").reference == "R" * length


async def test_a_longer_reference_is_refused_before_anything_is_sent() -> None:
    sent: list[object] = []

    def handler(request: Any) -> Any:
        sent.append(request)
        return hx.Response(200, content=success(**json.loads(request.content)))

    transport = hx.MockTransport(handler)
    async with OPayClient(
        MERCHANT_ID, SECRET_KEY, transport=transport, retry=RetryPolicy.none()
    ) as opay:
        with pytest.raises(OPayValidationError, match="reference: must be at most 128 characters"):
            await opay.close_payment(reference="R" * 129, country="EG")
        with pytest.raises(OPayValidationError, match="order_no: must be at most 128 characters"):
            await opay.close_payment(order_no="1" * 129, country="EG")
        outcomes = await opay.close_many(["R" * 129, "R" * 128], country="EG")
    assert [outcome.ok for outcome in outcomes] == [False, True]
    assert isinstance(outcomes[0].error, OPayValidationError)
    assert outcomes[0].attempts == 0
    assert len(sent) == 1  # only the 128-character one


async def test_answers_about_other_payments_never_come_back_closed_in_bulk() -> None:
    """The measurement of the issue: 200 items whose answers each name another payment."""

    def handler(request: Any) -> Any:
        asked = json.loads(request.content)
        other = "X" * MAX_IDENTIFIER if len(asked["reference"]) > 64 else asked["reference"] + "\n"
        return hx.Response(200, content=success(reference=other, country=asked["country"]))

    references = [f"{'R' * 120}{n}" for n in range(100)] + [f"S-{n}" for n in range(100)]
    async with OPayClient(
        MERCHANT_ID, SECRET_KEY, transport=hx.MockTransport(handler), retry=RetryPolicy.none()
    ) as opay:
        outcomes = await opay.close_many(references, country="EG", concurrency=20)
    assert not any(outcome.ok for outcome in outcomes)
    assert {type(outcome.error) for outcome in outcomes} == {OPayResponseError}


REPEATED = [
    ('{"code":"02006","message":"not found","code":"00000","data":%s}', "code"),
    ('{"code":"00000","code":"02006","message":"x","data":%s}', "code"),
    ('{"code":"00000","message":"x","data":{"orderStatus":"INITIAL"},"data":%s}', "data"),
    ('{"code":"00000","message":"x","data":%s,"data":{"orderStatus":"INITIAL"}}', "data"),
    ('{"code":"00000","message":"a","message":"b","data":%s}', "message"),
]


def close_data(**changes: object) -> str:
    data: dict[str, object] = {
        "reference": "SHOP-1",
        "orderNo": "211018140366538753",
        "country": "EG",
        "amount": {"total": 400, "currency": "EGP"},
        "orderStatus": "CLOSE",
    }
    data.update(changes)
    return json.dumps(data, separators=(",", ":"))


@pytest.mark.parametrize(("template", "key"), REPEATED)
def test_a_key_repeated_at_the_top_is_never_read(template: str, key: str) -> None:
    content = (template % close_data()).encode()
    request = CloseRequest(reference="SHOP-1", country="EG")
    with pytest.raises(OPayResponseError, match=f"names '{key}' twice in one object"):
        parse_close_answer(200, None, content, request)


@pytest.mark.parametrize(
    ("inner", "key"),
    [
        ('"orderStatus":"INITIAL","orderStatus":"CLOSE"', "orderStatus"),
        ('"orderStatus":"CLOSE","orderStatus":"INITIAL"', "orderStatus"),
        ('"reference":"OTHER","reference":"SHOP-1"', "reference"),
        ('"reference":"SHOP-1","reference":"OTHER"', "reference"),
        ('"country":"NG","country":"EG"', "country"),
        ('"amount":{"total":1,"total":400,"currency":"EGP"}', "total"),
        ('"extra":[{"deep":{"x":1,"x":2}}]', "x"),
    ],
)
def test_a_key_repeated_at_any_depth_is_never_read(inner: str, key: str) -> None:
    data = close_data()[:-1] + "," + inner + "}"
    content = ('{"code":"00000","message":"SUCCESSFUL","data":' + data + "}").encode()
    request = CloseRequest(reference="SHOP-1", country="EG")
    with pytest.raises(OPayResponseError, match=f"names '{key}' twice") as caught:
        parse_close_answer(200, None, content, request)
    assert not caught.value.retryable


@pytest.mark.parametrize(("status", "retryable"), [(200, False), (400, False), (503, True)])
def test_a_repeated_key_with_any_status_is_a_response_error(status: int, retryable: bool) -> None:
    content = b'{"code":"50003","code":"50003","message":"busy"}'
    request = CloseRequest(reference="SHOP-1", country="EG")
    with pytest.raises(OPayResponseError) as caught:
        parse_close_answer(status, None, content, request)
    assert caught.value.retryable is retryable  # a 503 is still "try again later"


def test_a_repeated_key_is_quoted_short_and_printable() -> None:
    key = "\x1b[31m" + "k" * 500
    content = (
        json.dumps({"code": "00000"}).encode()[:-1]
        + b","
        + (json.dumps({key: 1, "z": 2})[1:-1] + "," + json.dumps({key: 3})[1:-1] + "}").encode()
    )
    request = CloseRequest(reference="SHOP-1", country="EG")
    with pytest.raises(OPayResponseError) as caught:
        parse_close_answer(200, None, content, request)
    message = str(caught.value)
    assert message.isprintable()
    assert len(message) < 200
    assert r"'\x1b[31m" in message


def test_two_documents_back_to_back_are_still_refused() -> None:
    request = CloseRequest(reference="SHOP-1", country="EG")
    content = success(reference="SHOP-1", country="EG") * 2
    with pytest.raises(OPayResponseError, match="not an OPay JSON answer"):
        parse_close_answer(200, None, content, request)


def test_the_simulator_never_answers_a_repeated_key() -> None:
    """Every answer of a varied run (closes, unknown and paid payments, both identifiers,
    bad signatures, bad bodies, every random fault) is read with the SDK's own check."""
    fake = FakeOPay(auto_create=True)
    fake.add_payment(reference="PAID-1", country="EG", status=OrderStatus.SUCCESS)
    fake.set_fault_rates(service_unavailable=0.2, http_502=0.1, malformed=0.1, seed=7)
    bodies = [body_of(reference=f"S-{n}", country="EG") for n in range(150)]
    bodies += [body_of(orderNo=f"9{n}", country="NG") for n in range(50)]
    bodies += [body_of(reference="PAID-1", country="EG"), body_of(country="EG"), b"[]", b"{"]
    answered = 0
    for body in bodies:
        for headers in (signed_for(fake, body), {"Authorization": "Bearer 00", "MerchantId": "1"}):
            reply = fake.handle("POST", CLOSE_PATH, httpx2.Headers(headers), body)
            if reply.status and reply.content_type == "application/json" and reply.body:
                try:
                    json.loads(reply.body, object_pairs_hook=_no_repeats)
                except json.JSONDecodeError:
                    assert reply.body.startswith(b'{"code":"00000","message":"SUCC')  # malformed
                answered += 1
    assert answered >= 350


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return dict(pairs)


@pytest.mark.parametrize(
    ("answered", "quoted"),
    [
        (12345, "the number 12345"),
        (10**40 - 1, "the number " + "9" * 40),
        (10**40, "the number " + "1" + "0" * 39 + "..."),
        (-(10**45), "the number -" + "1" + "0" * 38 + "..."),
    ],
)
def test_a_number_answered_is_quoted_to_40_digits(answered: int, quoted: str) -> None:
    request = CloseRequest(reference="SHOP-1", country="EG")
    with pytest.raises(OPayResponseError) as caught:
        parse_close_answer(200, None, success(reference=answered), request)
    assert str(caught.value) == (
        f"OPay's answer is about another payment: its reference is {quoted} (reference='SHOP-1')"
    )


def test_the_repeated_key_error_says_so_and_names_the_request() -> None:
    request = CloseRequest(reference="SHOP-1", order_no="77", country="EG")
    with pytest.raises(OPayResponseError) as caught:
        parse_close_answer(200, None, b'{"code":"00000","code":"00000"}', request)
    assert str(caught.value) == (
        "OPay's answer names 'code' twice in one object: it says two things, and neither is "
        "taken (reference='SHOP-1', order_no='77')"
    )
    assert (caught.value.reference, caught.value.order_no) == ("SHOP-1", "77")


def test_a_reference_not_asked_for_is_kept_from_the_answer() -> None:
    request = CloseRequest(order_no="211018140366538753", country="EG")
    answer = success(reference="SHOP-1", orderNo="211018140366538753", country="EG")
    payment = parse_close_answer(200, None, answer, request)
    assert (payment.reference, payment.order_no) == ("SHOP-1", "211018140366538753")
