"""What goes on the wire: body, headers and signature, exactly as OPay documents them."""

from __future__ import annotations

import hashlib
import json
import types
from typing import cast

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opay_async import CLOSE_PATH, CloseRequest, OPaySignatureAuth, SecretKey, sign
from opay_async._http import _auth
from opay_async._http._auth import signing_auth
from opay_async._http._family import HTTPX2, Family, HttpModule
from tests.helpers import MERCHANT_ID, SECRET_KEY, ScriptedOPay, hx

AWKWARD = ["a/b/c", 'say "hi"', "back\\slash", "ünïcødé-ص", "emoji-🙂🚀", "<tag>&amp;", " spaced "]


# Known answers, computed once by another implementation (openssl dgst -sha512 -hmac KEY):
KNOWN_ANSWERS = [
    (
        "OPAYPRV_test_secret_0187828",
        b'{"country":"EG","reference":"041233981115"}',
        "25d5e183136e02de7eb557144ec20b64c2a9da777bb3c3cec7b748cda334171c"
        "4960d84f8861a743ae235164c5cee345bdf3f7628a99be78b88bdbb009651560",
    ),
    (
        "OPAYPRV_test_secret_0187828",
        b'{"country":"EG","orderNo":"211018140366538753","reference":"65316571001"}',
        "b08d9ed20860026063d7678c1107d43e5300f27b765bb340769675e9d3c0a7fe"
        "808f0bdb1da604aedea9a54a32305329e17f8be9e3336a12ced4e8680a36509f",
    ),
    (
        "OPAYPRV_test_secret_0187828",
        '{"country":"EG","reference":"a/b-é"}'.encode(),
        "752887dbae79a08c796f05b846cbf31f5da0a82a3baf717c40bed8e3745cab7c"
        "c639282cba2fb634b72eb0bcfb2676a9d3084606a4f4ede78cbb512b57ec9319",
    ),
    (  # RFC 4231, test case 2
        "Jefe",
        b"what do ya want for nothing?",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    ),
]


def expected_signature(body: bytes, key: str = SECRET_KEY) -> str:
    """HMAC-SHA512 built from SHA-512 itself (RFC 2104), not by the hmac module the SDK uses."""
    block = key.encode()
    if len(block) > 128:
        block = hashlib.sha512(block).digest()
    block = block.ljust(128, b"\0")
    inner = hashlib.sha512(bytes(b ^ 0x36 for b in block) + body).digest()
    return hashlib.sha512(bytes(b ^ 0x5C for b in block) + inner).hexdigest()


@pytest.mark.parametrize("reference", AWKWARD)
async def test_the_signature_covers_the_exact_bytes_received(reference: str) -> None:
    recorder = ScriptedOPay()
    async with recorder.client() as opay:
        await opay.close_payment(reference=reference, country="EG")
    request = recorder.requests[0]
    assert request.headers["Authorization"] == f"Bearer {expected_signature(request.content)}"
    assert json.loads(request.content) == {"country": "EG", "reference": reference}


@settings(max_examples=75)
@given(reference=st.text(min_size=1).filter(lambda s: s.strip() and s.isprintable()))
def test_any_reference_is_signed_over_what_is_sent(reference: str) -> None:
    request = CloseRequest(reference=reference, country="NG")
    auth = OPaySignatureAuth(MERCHANT_ID, SECRET_KEY)
    outgoing = hx.Request("POST", "https://x.test" + CLOSE_PATH, content=request.body())
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


@pytest.mark.parametrize(("key", "body", "digest"), KNOWN_ANSWERS)
def test_sign_gives_the_known_answers(key: str, body: bytes, digest: str) -> None:
    assert sign(body, key) == digest
    assert expected_signature(body, key) == digest  # the tests' own oracle agrees


async def test_the_header_carries_the_known_answer() -> None:
    recorder = ScriptedOPay()
    async with recorder.client() as opay:
        await opay.close_payment(reference="041233981115", country="EG")
    key, body, digest = KNOWN_ANSWERS[0]
    assert key == SECRET_KEY
    assert recorder.requests[0].content == body
    assert recorder.requests[0].headers["Authorization"] == f"Bearer {digest}"


def test_the_signer_never_shows_the_key() -> None:
    auth = OPaySignatureAuth(MERCHANT_ID, SECRET_KEY)
    assert SECRET_KEY not in repr(auth)
    assert MERCHANT_ID in repr(auth)


def test_the_header_names_go_out_as_opay_spells_them() -> None:
    request = hx.Request("POST", "https://opay.test/close", content=b"{}")
    OPaySignatureAuth(MERCHANT_ID, SECRET_KEY).sign(request)
    names = {name for name, _ in request.headers.raw}
    assert {b"Authorization", b"MerchantId"} <= names  # as the raw bytes on the wire


def test_a_signer_not_yet_initialised_still_has_a_repr() -> None:
    # What a traceback renders when the constructor itself failed.
    unfinished = OPaySignatureAuth.__new__(OPaySignatureAuth)
    assert repr(unfinished) == "OPaySignatureAuth(merchant_id=None, secret_key=SecretKey('***'))"


class _StandInAuth:
    """Legacy ``httpx.Auth`` as the SDK sees it: another family's base class."""

    __slots__ = ()
    requires_request_body = False


def test_another_familys_signer_signs_the_same_and_is_made_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_auth, "_CLASSES", dict(_auth._CLASSES))
    module = types.ModuleType("httpx")
    module.Auth = _StandInAuth  # type: ignore[attr-defined]
    legacy = Family(cast("HttpModule", module), "httpx")
    signer = signing_auth(legacy, MERCHANT_ID, SecretKey(SECRET_KEY))
    kind = type(signer)
    assert isinstance(signer, _StandInAuth)
    assert httpx2.Auth not in kind.__mro__
    assert (kind.__name__, kind.__module__) == ("OPaySignatureAuth", "opay_async._http._auth")
    assert kind.__doc__ == OPaySignatureAuth.__doc__
    assert kind.__slots__ == ()
    assert not hasattr(signer, "__dict__")
    assert signer.requires_request_body is True  # the signing half comes first
    assert signer.merchant_id == MERCHANT_ID
    assert SECRET_KEY not in repr(signer)
    assert type(signing_auth(legacy, "1", SecretKey(SECRET_KEY))) is kind  # made once
    body = b'{"country":"EG","reference":"A1"}'
    request = httpx2.Request("POST", "https://opay.test/close", content=body)
    assert next(signer.auth_flow(request)) is request
    assert request.headers["Authorization"] == f"Bearer {expected_signature(body)}"
    assert request.headers["MerchantId"] == MERCHANT_ID
    # and httpx2's family keeps the public class
    assert type(signing_auth(HTTPX2, MERCHANT_ID, SecretKey(SECRET_KEY))) is OPaySignatureAuth
