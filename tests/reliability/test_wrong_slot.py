"""Secrets in the wrong slot: a key given as the merchant id is refused, never shown or sent.

OPay's merchant ids are digits (15 of them: ``256612345678901`` in its documentation and
every id in this repository); its keys start ``OPAYPRV`` (secret) or ``OPAYPUB`` (public).
A merchant id that looks like a key, or is anything but 1 to 32 ASCII digits, is refused
before anything is built or sent, by a message that names the field and not the value;
swapped ``OPAY_MERCHANT_ID`` / ``OPAY_SECRET_KEY`` variables are called swapped.
"""

from __future__ import annotations

import os
import traceback

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opay_async import OPayClient, OPayError, OPayValidationError
from opay_async.testing import FakeOPay
from tests.helpers import (
    MERCHANT_ID,
    SECRET_KEY,
    assert_usage_error,
    clean_env,
    run,
    stub_server,
    success,
)

#: What a key given as the merchant id may look like.
KEY_LIKE = [
    SECRET_KEY,  # OPAYPRV_test_secret_0187828
    "OPAYPRV16057638845580.5549489",
    "OPAYPUB16057638845580.5549489",
    "opayprv-lower-case-key-0001",
    " OPAYPRV_with_a_crlf_0001\r\n",
    "OPAYPRV1",
    "sk_live_51H8a2c3d4e5f6g7h8",  # another provider's key, no OPay prefix
    "256612345678901x",
    "2566123456789O1",  # a letter O among the digits
    "\uff12\uff15\uff16\uff16",  # full-width digits: str.isdigit, not ASCII
    "9" * 33,
    "256 612",
    "256612345678901;rm -rf",
]


def package_locals(error: BaseException) -> str:
    """The local variables of the package's frames in ``error``'s traceback, as rendered."""
    stack = traceback.TracebackException.from_exception(error, capture_locals=True).stack
    frames = [frame for frame in stack if f"{os.sep}opay_async{os.sep}" in frame.filename]
    assert frames  # the error was raised inside the package
    return "\n".join(
        f"{name} = {value}" for f in frames for name, value in (f.locals or {}).items()
    )


IDS = ["256612345678901", "281821110129700", " 256612345678901\r\n", "222", "9" * 32]


@pytest.mark.parametrize("value", KEY_LIKE)
def test_a_key_or_anything_but_digits_is_refused_as_merchant_id_without_showing_it(
    value: str,
) -> None:
    fake = FakeOPay(auto_create=True)
    with pytest.raises(OPayValidationError) as caught:
        OPayClient(value, fake.secret_key, transport=fake.transport)
    error = caught.value
    assert error.field == "merchant_id"
    assert str(error).startswith("merchant_id: ")
    assert "not shown" in str(error)
    shown = value.strip()
    assert shown not in str(error)
    if not any(c.isdigit() for c in shown[:4]):  # a key: no 8 characters of it either
        assert all(shown[i : i + 8] not in str(error) for i in range(max(len(shown) - 7, 1)))
    rendered = package_locals(error)
    assert "MerchantIdInput('***')" in rendered  # what the frames of ours held instead
    assert shown not in rendered
    assert fake.request_count == 0


@pytest.mark.parametrize("value", IDS)
def test_real_merchant_ids_are_taken(value: str) -> None:
    opay = OPayClient(value, SECRET_KEY, transport=FakeOPay().transport)
    assert opay.merchant_id == value.strip()
    assert value.strip() in repr(opay)


@given(st.text(max_size=40))
def test_exactly_one_to_32_ascii_digits_are_a_merchant_id(value: str) -> None:
    stripped = value.strip()
    is_id = 0 < len(stripped) <= 32 and all(c in "0123456789" for c in stripped)
    try:
        OPayClient(value, SECRET_KEY, transport=FakeOPay().transport)
    except OPayValidationError as error:
        refused: OPayValidationError | None = error
    else:
        refused = None
    assert (refused is None) is is_id
    if refused is not None and len(stripped) >= 4:
        assert stripped not in str(refused)


@pytest.mark.parametrize("kind", [None, 15, b"256612345678901", 256612345678901])
def test_a_merchant_id_that_is_not_a_string_is_refused(kind: object) -> None:
    with pytest.raises(OPayValidationError, match="merchant_id: must be a non-empty string"):
        OPayClient(kind, SECRET_KEY)  # type: ignore[arg-type]


def test_swapped_variables_are_called_swapped_and_neither_is_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPAY_MERCHANT_ID", SECRET_KEY)
    monkeypatch.setenv("OPAY_SECRET_KEY", MERCHANT_ID)
    with pytest.raises(OPayValidationError) as caught:
        OPayClient.from_env()
    message = str(caught.value)
    assert caught.value.field == "merchant_id"
    assert "OPAY_MERCHANT_ID" in message
    assert "OPAY_SECRET_KEY" in message
    assert "swapped" in message
    assert SECRET_KEY not in message
    assert MERCHANT_ID not in message
    rendered = package_locals(caught.value)
    assert "SecretKey('***')" in rendered
    assert SECRET_KEY not in rendered
    assert MERCHANT_ID not in rendered


def test_a_key_in_the_merchant_id_variable_asks_whether_they_are_swapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPAY_MERCHANT_ID", "OPAYPUB16057638845580.5549489")
    monkeypatch.setenv("OPAY_SECRET_KEY", SECRET_KEY)
    with pytest.raises(OPayValidationError) as caught:
        OPayClient.from_env()
    message = str(caught.value)
    assert "OPAY_MERCHANT_ID holds what looks like a key" in message
    assert "swapped with OPAY_SECRET_KEY?" in message
    assert "OPAYPUB1605" not in message


def test_an_override_wins_over_a_bad_merchant_id_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPAY_MERCHANT_ID", SECRET_KEY)
    monkeypatch.setenv("OPAY_SECRET_KEY", SECRET_KEY)
    assert OPayClient.from_env(merchant_id=MERCHANT_ID).merchant_id == MERCHANT_ID


def test_a_merchant_id_variable_that_is_not_digits_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPAY_MERCHANT_ID", "merchant-one")
    monkeypatch.setenv("OPAY_SECRET_KEY", SECRET_KEY)
    with pytest.raises(OPayError, match="merchant_id: must be ASCII digits only") as caught:
        OPayClient.from_env()
    assert "merchant-one" not in str(caught.value)


@pytest.mark.parametrize("where", ["environment", "flag"])
def test_the_command_refuses_a_key_as_merchant_id_in_one_line_and_sends_nothing(
    where: str,
) -> None:
    with stub_server(success) as server:
        env = clean_env(OPAY_SECRET_KEY=MERCHANT_ID, OPAY_BASE_URL=server.url)
        args = ["close", "--reference", "A-1", "--country", "EG"]
        if where == "environment":
            env["OPAY_MERCHANT_ID"] = SECRET_KEY
        else:
            args += ["--merchant-id", SECRET_KEY]
        ran = run(*args, env=env, timeout=30)
        assert server.requests == []
    line = assert_usage_error(ran, "merchant_id")
    assert SECRET_KEY not in ran.stderr + ran.stdout
    assert "_test_secret" not in ran.stderr + ran.stdout
    if where == "environment":
        assert "swapped" in line
        assert MERCHANT_ID not in line
    else:
        assert "--merchant-id" in line
    assert ran.seconds < 30


@pytest.mark.parametrize("value", [SECRET_KEY, "OPAYPUB17052839512345", "M-1"])
def test_the_simulator_takes_only_a_merchant_id_a_client_can_send(value: str) -> None:
    with pytest.raises(OPayValidationError) as caught:
        FakeOPay(merchant_id=value)
    assert caught.value.field == "merchant_id"
    assert value not in str(caught.value)
    assert FakeOPay(merchant_id=" 256612345678901 ").merchant_id == "256612345678901"


def test_simulate_refuses_a_key_as_its_merchant_id_in_one_line() -> None:
    ran = run("simulate", "--port", "0", "--merchant-id", SECRET_KEY, timeout=30)
    line = assert_usage_error(ran, "merchant_id")
    assert SECRET_KEY not in ran.stderr + ran.stdout
    assert "_test_secret" not in line
