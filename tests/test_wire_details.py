"""Reading OPay's answer, detail by detail: the edges of each field and each message.

Written against the mutants of ``_wire.py`` that survived the rest of the suite
(``nox -s mutants``): ``parse_close_answer`` is called directly with the bytes an answer
could carry, and each edge (0, the largest value kept, one past it; status 299 and 300)
is pinned.
"""

from __future__ import annotations

import json

import pytest

from opay_async import CloseRequest, OPayAPIError, OPayHTTPError, OPayResponseError, Payment
from opay_async._payment import MAX_TOTAL
from opay_async._wire import _printable, _snippet, parse_close_answer

BY_REFERENCE = CloseRequest(reference="R-1", country="EG")
BY_ORDER_NO = CloseRequest(order_no="O-1", country="EG")


def answer(status: int = 200, **data: object) -> tuple[int, bytes]:
    fields: dict[str, object] = {"orderStatus": "CLOSE", "country": "EG"}
    fields.update(data)
    return status, json.dumps({"code": "00000", "message": "SUCCESSFUL", "data": fields}).encode()


def parse(status: int, content: bytes, request: CloseRequest = BY_REFERENCE) -> Payment:
    return parse_close_answer(status, None, content, request)


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("CLOSE", 5, "CLOSE"),
        ("a  b", 10, "a b"),  # printable, but whitespace is collapsed
        ("a\tb", 10, "a b"),
        ("ab\tcd", 5, "ab cd"),  # exactly the limit once cleaned: not cut
        ("x" * 20, 10, "x" * 10 + "..."),
        (" " * 40 + "abc", 10, ""),  # at most 4 x limit characters are read
        ("\x1b[31mred\u202e", 20, "[31mred"),
    ],
)
def test_printable_cleans_collapses_and_cuts(text: str, limit: int, shown: str) -> None:
    assert _printable(text, limit) == shown


def test_a_snippet_of_an_empty_or_blank_body_says_so() -> None:
    assert _snippet(b"") == "(empty body)"
    assert _snippet(b" " * 800 + b"hidden") == "(empty body)"  # only 800 bytes are read
    assert _snippet("\u00a0".encode() * 400 + b"hidden") == "(empty body)"  # bytes, not chars
    assert _snippet(b"<html>busy</html>") == "<html>busy</html>"


def test_nan_in_an_answer_makes_it_not_json() -> None:
    content = b'{"code": "00000", "data": {"orderStatus": "CLOSE", "reference": NaN}}'
    with pytest.raises(OPayResponseError, match="not an OPay JSON answer"):
        parse(200, content)


@pytest.mark.parametrize(
    ("order_no", "kept"),
    [
        (0, "0"),
        (211018140366538753, "211018140366538753"),
        (10**128 - 1, str(10**128 - 1)),
        (10**128, None),  # too long to be an order number
        ("O" * 128, "O" * 128),
        ("O" * 129, None),
    ],
)
def test_an_order_number_is_kept_up_to_128_characters(order_no: object, kept: str | None) -> None:
    payment = parse(*answer(orderNo=order_no))
    assert payment.order_no == kept


@pytest.mark.parametrize(
    ("code", "error"),
    [(50003, OPayAPIError), (10**16 - 1, OPayAPIError), (10**16, OPayResponseError)],
)
def test_a_numeric_code_is_read_up_to_16_digits(code: int, error: type[Exception]) -> None:
    content = json.dumps({"code": code, "message": "x"}).encode()
    with pytest.raises(error) as caught:
        parse(200, content)
    if error is OPayAPIError:
        assert caught.value.code == f"{code:05d}"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("amount", "kept"),
    [
        ({"total": 0, "currency": "EGP"}, (0, "EGP")),
        ({"total": MAX_TOTAL, "currency": "egp"}, (MAX_TOTAL, "EGP")),
        ({"total": MAX_TOTAL + 1, "currency": "EGP"}, None),
        ({"total": 5, "currency": "E1P"}, None),
    ],
)
def test_amounts_at_their_edges(amount: dict[str, object], kept: tuple[int, str] | None) -> None:
    payment = parse(*answer(amount=amount))
    got = None if payment.amount is None else (payment.amount.total, payment.amount.currency)
    assert got == kept


@pytest.mark.parametrize("status", [299, 300])
def test_a_body_that_is_not_opays_is_an_http_error_from_300(status: int) -> None:
    with pytest.raises(OPayResponseError if status < 300 else OPayHTTPError) as caught:
        parse(status, b"<html>moved</html>")
    if status < 300:
        assert str(caught.value) == (
            "OPay's answer is not an OPay JSON answer: <html>moved</html> (reference='R-1')"
        )
    else:
        assert caught.value.status_code == 300  # type: ignore[attr-defined]


def test_a_success_code_with_http_300_is_an_http_error() -> None:
    assert parse(*answer(299)).is_closed
    with pytest.raises(OPayHTTPError) as caught:
        parse(*answer(300))
    assert caught.value.status_code == 300
    assert caught.value.message.startswith("a success code with HTTP 300: {")
    assert caught.value.reference == "R-1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "OPay's success answer has no 'data' object"),
        ({"country": "EG"}, "OPay's success answer has no 'data.orderStatus'"),
        ({"orderStatus": ""}, "OPay's success answer has no 'data.orderStatus'"),
    ],
)
def test_a_success_without_what_it_must_carry(data: object, message: str) -> None:
    content = json.dumps({"code": "00000", "data": data}).encode()
    with pytest.raises(OPayResponseError) as caught:
        parse(200, content)
    assert caught.value.message == message
    assert caught.value.reference == "R-1"  # which request it is about


def test_an_answer_about_another_order_number_is_refused() -> None:
    with pytest.raises(OPayResponseError, match="another payment"):
        parse(*answer(orderNo="O-2"), request=BY_ORDER_NO)
    assert parse(*answer(orderNo="O-1"), request=BY_ORDER_NO).order_no == "O-1"
