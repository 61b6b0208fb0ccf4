"""FakeOPay validates the body of a close as OPay does: 02001 otherwise."""

from __future__ import annotations

import pytest

from opay_async.testing import FakeOPay
from tests.helpers import body_of, raw_post


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"country":"EG","reference":"S-1"',
        b"\xff\xfe{}",
        b"[1, 2]",
        b'"EG"',
        b"null",
        b"[" * 100_000,  # nested past the parser's recursion limit
        b'{"country":"EG","reference":"S-1"}' + b" " * 10 + b"\x00",
        body_of(reference="S-1"),
        body_of(country="eg", reference="S-1"),
        body_of(country="EGY", reference="S-1"),
        body_of(country="E1", reference="S-1"),
        body_of(country="ÉG", reference="S-1"),
        body_of(country=20, reference="S-1"),
        body_of(country="EG"),
        body_of(country="EG", reference=None, orderNo=None),
        body_of(country="EG", reference=""),
        body_of(country="EG", orderNo=""),
        body_of(country="EG", reference=12),
        body_of(country="EG", orderNo=211018140366538753),
        body_of(country="EG", reference="S-1", orderNo=""),
        body_of(country="EG", reference=["S-1"]),
    ],
)
async def test_an_invalid_body_answers_02001_and_creates_nothing(body: bytes) -> None:
    fake = FakeOPay(auto_create=True)
    answer = await raw_post(fake, body)
    assert answer.status_code == 200
    assert answer.json() == {"code": "02001", "message": "request params not valid."}
    seen = fake.requests[-1]
    assert seen.verified  # signed right: the body is what is wrong
    assert seen.code == "02001"
    assert fake.closed_count == 0
    assert not fake.payments


async def test_the_parsed_body_is_recorded_even_when_not_valid() -> None:
    fake = FakeOPay()
    await raw_post(fake, body_of(country="eg", reference="S-1"))
    await raw_post(fake, b"[1]")
    assert [seen.json for seen in fake.requests] == [{"country": "eg", "reference": "S-1"}, None]


@pytest.mark.parametrize(
    "fields",
    [
        {"country": "EG", "reference": "S-1"},
        {"country": "EG", "orderNo": "211018140300000001"},
        {"country": "EG", "reference": "S-1", "orderNo": "211018140300000001"},
        {"country": "EG", "reference": "S-1", "orderNo": None},
        {"country": "EG", "reference": "S-1", "note": "extra fields are ignored"},
    ],
)
async def test_valid_bodies(fields: dict[str, object]) -> None:
    fake = FakeOPay()
    fake.add_payment(reference="S-1", order_no="211018140300000001")
    answer = await raw_post(fake, body_of(**fields))
    assert answer.json()["code"] == "00000"
    assert answer.json()["data"]["orderStatus"] == "CLOSE"
