"""``opay-async close --json`` says what happened: ``ok`` is true only for a closed payment."""

from __future__ import annotations

import json

import pytest

from opay_async.testing import FakeOPay
from tests.helpers import Ran, env_for, run, stub_server, success

REFERENCE = "JSON-1"


def close_json(url: str, *options: str) -> Ran:
    """``opay-async close --reference JSON-1 --country EG --json`` against ``url``."""
    arguments = ["close", "--reference", REFERENCE, "--country", "EG", "--json", *options]
    return run(*arguments, env=env_for(url), timeout=30)


def one_json_line(stdout: str) -> dict[str, object]:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    record = json.loads(lines[0])
    assert isinstance(record, dict)
    return record


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ({"code": "02006", "message": "payment not found."}, "[02006] payment not found."),
        ({"code": "02000", "message": "authentication failed."}, "[02000] authentication failed."),
    ],
    ids=["02006", "02000"],
)
def test_a_failure_is_ok_false_with_the_error(answer: dict[str, str], says: str) -> None:
    with stub_server(lambda _body: answer) as server:
        ran = close_json(server.url, "--attempts", "1")
        assert len(server.requests) == 1
    assert ran.returncode == 1, ran.stderr
    record = one_json_line(ran.stdout)
    assert record["ok"] is False
    error = record["error"]
    assert isinstance(error, str)
    assert error.startswith(says), error
    assert REFERENCE in error  # which payment it is about
    assert "order_status" not in record or record["order_status"] != "CLOSE"
    assert FakeOPay().secret_key not in ran.stdout + ran.stderr


def test_a_payment_answered_but_not_closed_is_ok_false() -> None:
    with stub_server(lambda body: success(body, status="SUCCESS")) as server:
        ran = close_json(server.url, "--attempts", "1")
    assert ran.returncode == 1, ran.stderr
    record = one_json_line(ran.stdout)
    assert record["ok"] is False
    assert "paid" in str(record["error"])


def test_a_closed_payment_is_ok_true_with_its_fields() -> None:
    with stub_server(success) as server:
        ran = close_json(server.url)
    assert ran.returncode == 0, ran.stderr
    assert one_json_line(ran.stdout) == {
        "ok": True,
        "reference": REFERENCE,
        "order_no": "211018140366538753",
        "country": "EG",
        "amount_minor": 400,  # minor units, a number
        "amount_major": "4.00",  # exact text in major units
        "currency": "EGP",
        "order_status": "CLOSE",
    }
