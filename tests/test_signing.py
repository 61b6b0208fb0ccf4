"""What goes on the wire: body, headers and signature, exactly as OPay documents them."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opay_async import CLOSE_PATH, CloseRequest, OPaySignatureAuth, sign
from tests.helpers import MERCHANT_ID, SECRET_KEY, ScriptedOPay

AWKWARD = ["a/b/c", 'say "hi"', "back\\slash", "ünïcødé-ص", "emoji-🙂🚀", "<tag>&amp;", " spaced "]


def expected_signature(body: bytes) -> str:
    return hmac.new(SECRET_KEY.encode(), body, hashlib.sha512).hexdigest()


@pytest.mark.parametrize("reference", AWKWARD)
async def test_the_signature_covers_the_exact_bytes_received(reference: str) -> None:
    recorder = ScriptedOPay()
    async with recorder.client() as opay:
        await opay.close_payment(reference=reference, country="EG")
    request = recorder.requests[0]
    assert request.headers["Authorization"] == f"Bearer {expected_signature(request.content)}"
    assert json.loads(request.content) == {"country": "EG", "reference": reference}


@settings(max_examples=75)
@given(reference=st.text(min_size=1).filter(lambda s: s.strip()))
def test_any_reference_is_signed_over_what_is_sent(reference: str) -> None:
    request = CloseRequest(reference=reference, country="NG")
    auth = OPaySignatureAuth(MERCHANT_ID, SECRET_KEY)
    outgoing = httpx.Request("POST", "https://x.test" + CLOSE_PATH, content=request.body())
    signed = next(auth.auth_flow(outgoing))
    assert signed.headers["Authorization"] == f"Bearer {expected_signature(signed.content)}"
    assert json.loads(signed.content) == {"country": "NG", "reference": reference}


async def test_headers_and_body_are_as_opay_documents() -> None:
    recorder = ScriptedOPay()
    async with recorder.client() as opay:
        await opay.close_payment(
            reference="65316571001", order_no="211018140366538753", country="eg"
        )
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url == "https://sandboxapi.opaycheckout.com" + CLOSE_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["MerchantId"] == MERCHANT_ID
    scheme, signature = request.headers["Authorization"].split(" ")
    assert scheme == "Bearer"
    assert len(signature) == 128
    assert signature == signature.lower()
    # Compact JSON, keys sorted, only the fields that are set, country upper-cased.
    assert request.content == (
        b'{"country":"EG","orderNo":"211018140366538753","reference":"65316571001"}'
    )


def test_slashes_and_non_ascii_are_not_escaped() -> None:
    body = CloseRequest(reference="a/b-é", country="EG").body()
    assert body == '{"country":"EG","reference":"a/b-é"}'.encode()
    assert CloseRequest(order_no="1", country="EG").body() == b'{"country":"EG","orderNo":"1"}'


def test_sign_matches_an_independent_hmac() -> None:
    body = b'{"country":"EG","reference":"041233981115"}'
    assert sign(body, SECRET_KEY) == expected_signature(body)


def test_the_signer_never_shows_the_key() -> None:
    auth = OPaySignatureAuth(MERCHANT_ID, SECRET_KEY)
    assert SECRET_KEY not in repr(auth)
    assert MERCHANT_ID in repr(auth)
