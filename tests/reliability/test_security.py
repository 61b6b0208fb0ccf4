"""Security: the secret key and signatures never appear in anything the SDK or CLI emits."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from rich.traceback import Traceback

from opay_async import CloseRequest, OPayClient, OPayError, OPayValidationError, RetryPolicy
from opay_async.testing import FakeOPay, instant_retries

SECRET = "OPAYPRV_reliability_secret_5b1e"
HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")
COMMAND = [sys.executable, "-m", "opay_async"]
EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "stale_orders.csv"


def assert_clean(emitted: str, signatures: set[str]) -> None:
    assert SECRET not in emitted
    assert not HEX_SIGNATURE.search(emitted)
    assert not any(signature in emitted for signature in signatures)


async def test_the_sdk_emits_no_secret_and_no_signature(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeOPay(secret_key=SECRET, auto_create=True)
    fake.set_fault_rates(service_unavailable=0.2, http_502=0.05, drop=0.05, timeout=0.05, seed=5)
    texts: list[str] = [repr(fake)]
    with caplog.at_level(logging.DEBUG), instant_retries():
        async with fake.client(retry=RetryPolicy(attempts=2)) as opay:
            texts.append(repr(opay))
            outcomes = await opay.close_many(
                [f"SEC-{n}" for n in range(300)] + ["", "   "], country="EG", concurrency=10
            )
            texts += [repr(outcome) for outcome in outcomes]
            texts += [str(o.error) + repr(o.error) for o in outcomes if o.error]
            fake.fail_next(code="02000", message=f"bad signature for key {SECRET}")
            try:
                await opay.close_payment(reference="SEC-X", country="EG")
            except OPayError as error:
                texts += [str(error), repr(error)]
            texts.append(repr(await opay.try_close(CloseRequest(reference="SEC-Y", country="EG"))))
        with pytest.raises(OPayValidationError) as public_key:
            OPayClient(fake.merchant_id, "OPAYPUB_public_key_1", transport=fake.transport)
        texts.append(str(public_key.value))
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    signatures = {
        hmac.new(SECRET.encode(), seen.body, hashlib.sha512).hexdigest() for seen in fake.requests
    }
    assert len(caplog.records) > 300  # DEBUG really was on
    emitted = "\n".join(texts)
    assert "OPAYPUB_public_key_1" not in emitted
    assert_clean(emitted, signatures)


def test_the_cli_emits_no_secret_and_no_signature(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(SECRET)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPAY_")}
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opay_async",
            "simulate",
            "--port",
            "0",
            "--secret-key-file",
            str(key_file),
            "-v",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert simulator.stdout is not None
        banner = simulator.stdout.readline()
        base_url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert base_url, banner
        env.update(
            OPAY_MERCHANT_ID=FakeOPay().merchant_id,
            OPAY_SECRET_KEY=SECRET,
            OPAY_BASE_URL=base_url.group(0),
        )
        output = tmp_path / "results.jsonl"
        runs = [
            subprocess.run(
                [*COMMAND, *arguments],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                check=False,
            )
            for arguments in (
                ["close", "--reference", "CLI-1", "--country", "EG", "-v"],
                ["close", "--reference", "CLI-1", "--country", "EG", "--json"],
                ["close-many", str(EXAMPLE), "--output", str(output), "-v", "--concurrency", "8"],
                ["close", "--reference", "CLI-2", "--country", "EGY"],
            )
        ]
        wrong = subprocess.run(
            [
                sys.executable,
                "-m",
                "opay_async",
                "close",
                "--reference",
                "CLI-3",
                "--country",
                "EG",
            ],
            capture_output=True,
            text=True,
            env={**env, "OPAY_SECRET_KEY": "OPAYPRV_other_key_9c"},
            timeout=60,
            check=False,
        )
    finally:
        simulator.send_signal(signal.SIGINT)
        served_out, served_err = simulator.communicate(timeout=10)
    assert [run.returncode for run in runs] == [0, 0, 1, 2]
    assert wrong.returncode == 1
    emitted = "\n".join(
        [banner, served_out, served_err, output.read_text(), wrong.stdout, wrong.stderr]
        + [run.stdout + run.stderr for run in runs]
    )
    assert "DEBUG opay_async" in emitted
    assert len(output.read_text().splitlines()) == 300
    assert all(json.loads(line) for line in output.read_text().splitlines())
    assert "OPAYPRV_other_key_9c" not in emitted
    assert_clean(emitted, set())


# -- tracebacks rendered with their frames' local variables -------------------------------


def rendered(error: BaseException) -> str:
    """``error``'s traceback as the standard library and rich render it with locals."""
    stdlib = "".join(
        traceback.TracebackException.from_exception(error, capture_locals=True).format()
    )
    console = Console(file=io.StringIO(), width=200)
    console.print(
        Traceback.from_exception(type(error), error, error.__traceback__, show_locals=True)
    )
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Traceback" in stdlib and "locals" in shown.lower()
    return stdlib + shown


def failing_constructions(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Errors raised while building a client, each with SECRET in play."""
    attempts: list[Callable[[], object]] = [
        lambda: OPayClient("bad merchant id", SECRET),
        lambda: OPayClient("256612345678901", SECRET, timeout=-1),
        lambda: OPayClient("256612345678901", SECRET, base_url="ftp://x"),
        lambda: OPayClient("256612345678901", SECRET + "\x00"),
        lambda: OPayClient("256612345678901", "OPAYPUB" + SECRET),
        lambda: OPayClient.from_env(secret_key=SECRET, timeout="soon"),  # type: ignore[arg-type]
    ]
    errors: list[BaseException] = []
    for attempt in attempts:
        with pytest.raises(OPayValidationError) as caught:
            attempt()
        errors.append(caught.value)
    monkeypatch.setenv("OPAY_MERCHANT_ID", "256612345678901")
    monkeypatch.setenv("OPAY_SECRET_KEY", SECRET + "\r\n")
    monkeypatch.setenv("OPAY_ENVIRONMENT", "staging")
    with pytest.raises(OPayValidationError) as from_env:
        OPayClient.from_env()
    errors.append(from_env.value)
    return errors


def test_no_traceback_rendered_with_locals_shows_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for error in failing_constructions(monkeypatch):
        shown = rendered(error)
        assert SECRET not in shown, f"{error!r} shows the key"
        assert "SecretKey('***')" in shown or "secret_key" not in shown


async def test_no_traceback_of_a_failed_close_shows_the_key_or_a_signature() -> None:
    fake = FakeOPay(secret_key=SECRET, auto_create=True)
    fake.fail_next(code="02000", message="authentication failed.")
    fake.drop_next()
    shown: list[str] = []
    async with fake.client(retry=RetryPolicy.none()) as opay:
        for _ in range(2):
            with pytest.raises(OPayError) as caught:
                await opay.close_payment(reference="TB-1", country="EG")
            shown.append(rendered(caught.value))  # before this frame holds any signature
    signatures = {
        hmac.new(SECRET.encode(), seen.body, hashlib.sha512).hexdigest() for seen in fake.requests
    }
    assert len(signatures) == 1
    for text in shown:
        assert_clean(text, signatures)
