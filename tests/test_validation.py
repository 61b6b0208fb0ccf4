"""Bad input is refused with a clear OPayValidationError naming the field, before sending."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opay_async import (
    Amount,
    CloseOutcome,
    CloseRequest,
    OPayClient,
    OPayValidationError,
    RetryPolicy,
)
from tests.helpers import MERCHANT_ID, SECRET_KEY, ScriptedOPay, hx


@pytest.mark.parametrize(
    ("arguments", "field", "problem"),
    [
        ({"country": "EG"}, "reference", "give a reference or an order_no"),
        ({"reference": "", "country": "EG"}, "reference", "must not be empty"),
        ({"reference": "   ", "country": "EG"}, "reference", "must not be empty"),
        ({"order_no": "", "country": "EG"}, "order_no", "must not be empty"),
        ({"reference": 65316571001, "country": "EG"}, "reference", "must be a string"),
        ({"reference": "A1", "country": "EGY"}, "country", "two ASCII letters"),
        ({"reference": "A1", "country": "E1"}, "country", "two ASCII letters"),
        ({"reference": "A1", "country": "ÉG"}, "country", "two ASCII letters"),
        ({"reference": "A1", "country": ""}, "country", "two ASCII letters"),
        ({"reference": "A1", "country": None}, "country", "two ASCII letters"),
    ],
)
async def test_bad_requests_are_refused_before_sending(
    arguments: dict[str, object], field: str, problem: str
) -> None:
    recorder = ScriptedOPay()
    async with recorder.client() as opay:
        with pytest.raises(OPayValidationError) as caught:
            await opay.close_payment(**arguments)  # type: ignore[arg-type]
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    assert problem in str(error)
    assert recorder.sent == 0


def test_lower_case_countries_are_normalised() -> None:
    assert CloseRequest(reference="A1", country="ng").country == "NG"


@given(st.text(max_size=4))
def test_country_accepts_exactly_two_ascii_letters(country: str) -> None:
    valid = len(country) == 2 and country.isascii() and country.isalpha()
    try:
        request = CloseRequest(reference="A1", country=country)
    except OPayValidationError:
        assert not valid
    else:
        assert valid
        assert request.country == country.upper()


@pytest.mark.parametrize(
    ("arguments", "field", "problem"),
    [
        ({"merchant_id": "", "secret_key": SECRET_KEY}, "merchant_id", "non-empty"),
        ({"merchant_id": "256 61", "secret_key": SECRET_KEY}, "merchant_id", "ASCII digits only"),
        ({"merchant_id": "2566\n1", "secret_key": SECRET_KEY}, "merchant_id", "digits only"),
        ({"merchant_id": MERCHANT_ID, "secret_key": ""}, "secret_key", "non-empty"),
        ({"merchant_id": MERCHANT_ID, "secret_key": None}, "secret_key", "must be a string"),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": "OPAYPUB16057638845580.5549489"},
            "secret_key",
            "public key",
        ),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "base_url": "http://opay.test"},
            "base_url",
            "https://",
        ),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "base_url": "ftp://x"},
            "base_url",
            "https://",
        ),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "base_url": "opay.test"},
            "base_url",
            "absolute URL",
        ),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "base_url": 8000},
            "base_url",
            "string",
        ),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "environment": "live"},
            "environment",
            "'sandbox' or 'production'",
        ),
        ({"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "timeout": 0}, "timeout", "> 0"),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "timeout": "30"},
            "timeout",
            "> 0",
        ),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "retry": 3},
            "retry",
            "RetryPolicy",
        ),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "retry_budget": 500},
            "retry_budget",
            "RetryBudget",
        ),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "max_connections": 0},
            "max_connections",
            ">= 1",
        ),
        (
            {"merchant_id": MERCHANT_ID, "secret_key": SECRET_KEY, "backend": "requests"},
            "backend",
            "'httpx2' or 'aiohttp'",
        ),
    ],
)
def test_bad_client_settings_are_refused(
    arguments: dict[str, object], field: str, problem: str
) -> None:
    with pytest.raises(OPayValidationError) as caught:
        OPayClient(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert problem in str(caught.value)
    secret = arguments["secret_key"]
    if isinstance(secret, str) and secret:
        assert secret not in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8000", "http://127.5.6.7", "http://[::1]:9000/", "http://localhost:1"],
)
async def test_plain_http_is_allowed_on_loopback_only(base_url: str) -> None:
    async with OPayClient(MERCHANT_ID, SECRET_KEY, base_url=base_url) as opay:
        assert opay.url_for("EG").startswith(base_url.rstrip("/") + "/api/")


def test_http_client_and_transport_are_exclusive() -> None:
    with pytest.raises(OPayValidationError, match="not both"):
        OPayClient(
            MERCHANT_ID,
            SECRET_KEY,
            http_client=hx.AsyncClient(),
            transport=hx.MockTransport(ScriptedOPay()),
        )


@pytest.mark.parametrize(
    ("total", "currency", "field"),
    [(-1, "EGP", "total"), (1.5, "EGP", "total"), (True, "EGP", "total"), (1, "EG", "currency")],
)
def test_amount_validation(total: object, currency: object, field: str) -> None:
    with pytest.raises(OPayValidationError, match=f"^{field}: "):
        Amount(total, currency)  # type: ignore[arg-type]


def test_an_outcome_holds_a_payment_or_an_error() -> None:
    request = CloseRequest(reference="A1", country="EG")
    with pytest.raises(OPayValidationError):
        CloseOutcome(request=request, payment=None, error=None, attempts=0)


def test_policy_repr_is_readable() -> None:
    assert repr(RetryPolicy.none()) == (
        "RetryPolicy(attempts=1, timeout=60.0, wait_initial=0.5, wait_max=8.0)"
    )


@pytest.mark.parametrize("value", ["A1\x1b[2J", "A1\n", "A\t1", "A1\x00", "\ud800", "A\u202e1"])
@pytest.mark.parametrize("field", ["reference", "order_no"])
def test_control_characters_never_leave_the_client(field: str, value: str) -> None:
    with pytest.raises(OPayValidationError, match="printable text") as caught:
        CloseRequest(country="EG", **{field: value})  # type: ignore[arg-type]
    assert caught.value.field == field
