"""FakeOPay checks merchant id and signature exactly as OPay does, both ways."""

from __future__ import annotations

import hashlib
import hmac

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opay_async import (
    CLOSE_PATH,
    AuthenticationError,
    OPayClient,
    OrderStatus,
    sign,
)
from opay_async.testing import DEFAULT_MERCHANT_ID, DEFAULT_SECRET_KEY, FakeOPay
from tests.helpers import URL, body_of, raw_post, signed, signed_for


def test_default_credentials_are_documented_and_not_shown() -> None:
    fake = FakeOPay()
    assert fake.merchant_id == DEFAULT_MERCHANT_ID == "256612345678901"
    assert fake.secret_key == DEFAULT_SECRET_KEY
    assert DEFAULT_SECRET_KEY.startswith("OPAYPRV_SIMULATOR")
    assert DEFAULT_SECRET_KEY not in repr(fake)
    custom = FakeOPay("281821110129700", "OPAYPRV_do_not_show_me")
    assert "OPAYPRV_do_not_show_me" not in repr(custom)
    assert "OPAYPRV_do_not_show_me" not in repr(custom.client())
    assert "281821110129700" in repr(custom)


async def test_a_correctly_signed_request_is_accepted_and_recorded() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="S-1", country="EG")
    body = body_of(country="EG", reference="S-1")
    headers = signed_for(fake, body)
    answer = await raw_post(fake, body, headers)
    assert answer.status_code == 200
    assert answer.json()["code"] == "00000"
    [seen] = fake.requests
    assert seen.verified
    assert (seen.method, seen.path, seen.merchant_id, seen.status, seen.code) == (
        "POST",
        CLOSE_PATH,
        DEFAULT_MERCHANT_ID,
        200,
        "00000",
    )
    assert seen.body == body
    assert seen.json == {"country": "EG", "reference": "S-1"}
    assert seen.authorization == headers["Authorization"]
    assert seen.content_type == "application/json"
    assert (seen.reference, seen.order_no, seen.fault) == ("S-1", None, None)
    assert headers["Authorization"] not in repr(seen)


async def test_the_signature_is_hmac_sha512_of_the_raw_bytes_with_the_secret_key() -> None:
    fake = FakeOPay(secret_key="OPAYPRV_k")
    fake.add_payment(reference="S-1")
    body = b'{"reference":"S-1","country":"EG"}'  # not sorted: the bytes are what counts
    digest = hmac.new(b"OPAYPRV_k", body, hashlib.sha512).hexdigest()
    assert digest == sign(body, "OPAYPRV_k")
    headers = {"Authorization": f"Bearer {digest}", "MerchantId": fake.merchant_id}
    assert (await raw_post(fake, body, headers)).json()["code"] == "00000"


@pytest.mark.parametrize(
    "tamper",
    [
        "wrong key",
        "public key",
        "tampered body",
        "no authorization",
        "no bearer",
        "lower-case bearer",
        "upper-case hex",
        "truncated signature",
        "wrong merchant",
        "no merchant",
    ],
)
async def test_a_bad_signature_or_merchant_answers_02000_and_changes_nothing(
    tamper: str,
) -> None:
    fake = FakeOPay()
    fake.add_payment(reference="S-1", country="EG")
    body = body_of(country="EG", reference="S-1")
    headers = signed_for(fake, body)
    if tamper == "wrong key":
        headers = signed(body, "OPAYPRV_someone_else", fake.merchant_id)
    elif tamper == "public key":
        headers = signed(body, "OPAYPUB_the_public_key", fake.merchant_id)
    elif tamper == "tampered body":
        body = body_of(country="EG", reference="S-1", extra=1)
    elif tamper == "no authorization":
        del headers["Authorization"]
    elif tamper == "no bearer":
        headers["Authorization"] = headers["Authorization"].removeprefix("Bearer ")
    elif tamper == "lower-case bearer":
        headers["Authorization"] = headers["Authorization"].replace("Bearer", "bearer")
    elif tamper == "upper-case hex":
        headers["Authorization"] = "Bearer " + headers["Authorization"][7:].upper()
    elif tamper == "truncated signature":
        headers["Authorization"] = headers["Authorization"][:-2]
    elif tamper == "wrong merchant":
        headers["MerchantId"] = "256612345678902"
    else:
        del headers["MerchantId"]
    answer = await raw_post(fake, body, headers)
    assert answer.status_code == 200
    assert answer.json() == {"code": "02000", "message": "authentication failed."}
    assert not fake.requests[-1].verified
    assert fake.requests[-1].code == "02000"
    assert fake.payment(reference="S-1").order_status is OrderStatus.INITIAL
    assert fake.closed_count == 0


async def test_the_signature_is_checked_before_the_body() -> None:
    fake = FakeOPay()
    answer = await raw_post(fake, b"not json", {"MerchantId": fake.merchant_id})
    assert answer.json()["code"] == "02000"


async def test_an_sdk_client_with_the_wrong_key_or_merchant_gets_authentication_error() -> None:
    fake = FakeOPay(auto_create=True)
    for merchant_id, key in [
        (fake.merchant_id, "OPAYPRV_wrong"),
        ("256600000000000", fake.secret_key),
    ]:
        async with OPayClient(merchant_id, key, transport=fake.transport) as opay:
            with pytest.raises(AuthenticationError):
                await opay.close_payment(reference="S-1", country="EG")
    assert fake.closed_count == 0
    assert not fake.payments  # auto_create does not create for unauthenticated requests


@given(
    # Any valid reference but the simulator's reserved "[sim:" marker (scripted outcomes).
    reference=st.text(min_size=1, max_size=60).filter(
        lambda text: text.strip() and text.isprintable() and "[sim:" not in text.lower()
    ),
    country=st.sampled_from(["EG", "NG", "KE"]),
)
async def test_the_sdk_signs_what_the_simulator_verifies(reference: str, country: str) -> None:
    fake = FakeOPay(auto_create=True)
    async with fake.client() as opay:
        payment = await opay.close_payment(reference=reference, country=country)
    assert payment.reference == reference
    assert payment.is_closed
    [seen] = fake.requests
    assert seen.verified
    assert seen.reference == reference


async def test_awkward_references_round_trip() -> None:
    fake = FakeOPay(auto_create=True)
    references = [
        "a/b",
        'quo"te',
        "back\\slash",
        "çà-ünï",
        "emoji-🙂",
        "<tag>&",
        "x" * 128,
    ]  # the longest accepted
    async with fake.client() as opay:
        for reference in references:
            assert (await opay.close_payment(reference=reference, country="EG")).is_closed
    assert all(seen.verified for seen in fake.requests)
    assert [seen.reference for seen in fake.requests] == references


async def test_wrong_path_and_method_are_plain_http_errors_and_draw_no_fault() -> None:
    fake = FakeOPay()
    fake.fail_next()
    async with httpx2.AsyncClient(transport=fake.transport) as http:
        elsewhere = await http.post("https://x.test/api/v1/international/payment/status")
        get = await http.get(URL)
    assert (elsewhere.status_code, elsewhere.text) == (404, "Not Found")
    assert (get.status_code, get.text) == (405, "Method Not Allowed")
    assert get.headers["allow"] == "POST"
    assert elsewhere.headers["content-type"].startswith("text/plain")
    assert [(seen.status, seen.code, seen.verified) for seen in fake.requests] == [
        (404, None, False),
        (405, None, False),
    ]
    assert fake.pending_faults == 1
