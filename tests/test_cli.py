"""The ``opay-async`` command, driven as a subprocess the way an operator runs it."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from opay_async.testing import FakeOPay
from tests.helpers import EXAMPLE, ROOT, clean_env, read_jsonl, run

SECRET = "OPAYPRV_cli_test_secret_7f3a9c"
SIGNATURE = re.compile(r"[0-9a-f]{128}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served_simulator(tmp_path: Path) -> Iterator[str]:
    """``opay-async simulate`` on a free loopback port, with SECRET as its key."""
    key_file = tmp_path / "key"
    key_file.write_text(SECRET)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opay_async",
            "simulate",
            "--port",
            str(port),
            "--secret-key-file",
            str(key_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner, banner
        assert SECRET not in banner
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - only when the server hangs
            process.kill()
            process.wait()
        assert process.stdout is not None
        assert process.stderr is not None
        rest = process.stdout.read() + process.stderr.read()
        process.stdout.close()
        process.stderr.close()
        assert SECRET not in rest


def test_close_one_payment_on_the_simulator() -> None:
    result = run("close", "--simulate", "--reference", "SHOP-1", "--country", "eg")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("CLOSE reference=SHOP-1 ")
    assert "country=EG" in result.stdout
    # OPay's total is in piastres: a person reads pounds, with the currency first.
    assert re.search(r" amount=EGP \d{1,3}(,\d{3})*\.\d\d$", result.stdout.strip()), result.stdout


def test_close_prints_json_when_asked() -> None:
    result = run(
        "close", "--simulate", "--order-no", "211018140366538753", "--country", "NG", "--json"
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["ok"] is True
    assert record["order_status"] == "CLOSE"
    assert record["order_no"] == "211018140366538753"
    assert record["currency"] == "NGN"
    assert isinstance(record["amount_minor"], int)  # a JSON number, in kobo
    assert Decimal(record["amount_major"]) * 100 == record["amount_minor"]  # exact text
    assert re.fullmatch(r"\d+\.\d\d", record["amount_major"])


def test_verbose_on_the_simulator_names_no_opay_host() -> None:
    result = run("close", "--simulate", "--reference", "V-1", "--country", "EG", "-v")
    assert result.returncode == 0, result.stderr
    assert "opaycheckout.com" not in result.stderr  # nothing left the process
    assert (
        "INFO opay_async.cli: closes are posted to "
        "https://opay-simulator.invalid/api/v1/international/payment/close\n"
    ) in result.stderr
    assert "simulator inside this process" in result.stderr


#: A line of an HTTP engine's logger, as ``-v`` would print it.
ENGINE_LINE = re.compile(r"^[A-Z]+ (httpcore2?|httpx2?|hpack|aiohttp|asyncio|uvicorn)\b", re.M)


def loggers_of(stderr: str) -> set[str]:
    """The loggers named by the log lines (``LEVEL name: message``) of ``stderr``."""
    return set(re.findall(r"^(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+):", stderr, re.M))


def test_verbose_shows_the_sdks_lines_and_not_the_http_engines(
    served_simulator: str, tmp_path: Path
) -> None:
    """-v over real sockets: each attempt's opay_async line; no httpcore2, httpx2, asyncio."""
    env = clean_env(
        OPAY_MERCHANT_ID=FakeOPay().merchant_id,
        OPAY_SECRET_KEY=SECRET,
        OPAY_BASE_URL=served_simulator,
    )
    output = tmp_path / "out.jsonl"
    many = run(
        "close-many", str(EXAMPLE), "--output", str(output), "-v", "--concurrency", "8", env=env
    )
    one = run("close", "--reference", "V-2", "--country", "EG", "-v", env=env)
    simulated = run("close", "--simulate", "--reference", "V-3", "--country", "EG", "-v")
    assert many.returncode == 1, many.stderr  # the example's bad rows
    assert one.returncode == simulated.returncode == 0, one.stderr + simulated.stderr
    for ran in (many, one, simulated):
        assert not ENGINE_LINE.search(ran.stderr), ENGINE_LINE.search(ran.stderr)
        assert loggers_of(ran.stderr) <= {"opay_async", "opay_async.cli"}, ran.stderr[:2000]
    attempts = re.findall(r"^DEBUG opay_async: close reference=(\S+) ", many.stderr, re.M)
    assert len(set(attempts)) == 295  # every valid row's attempt, and nothing else
    assert "DEBUG opay_async: close reference=V-2 order_no=None attempt=1 outcome=CLOSE" in (
        one.stderr
    )
    assert "DEBUG opay_async: close reference=V-3 " in simulated.stderr


def test_a_missing_merchant_id_suggests_the_simulator() -> None:
    result = run("close", "--reference", "R1", "--country", "EG", env=clean_env())
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "opay-async: error: merchant_id: set the OPAY_MERCHANT_ID environment variable, "
        "or pass --merchant-id, or try --simulate"
    )


def test_simulate_help_describes_it_and_its_defaults() -> None:
    result = run("simulate", "--help", env=clean_env(COLUMNS="200"))
    assert result.returncode == 0
    description = result.stdout.split("\n\n")[1]
    assert description.startswith("Serve the OPay simulator")
    assert re.search(r"--host HOST +address to listen on \(default: 127\.0\.0\.1\)", result.stdout)
    assert re.search(
        r"--port PORT +port to listen on; 0 picks a free one \(default: 8000\)", result.stdout
    )


def test_missing_secret_is_a_usage_error_in_one_line() -> None:
    result = run(
        "close", "--reference", "R1", "--country", "EG", env=clean_env(OPAY_MERCHANT_ID="1")
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "OPAY_SECRET_KEY" in result.stderr
    assert "--secret-key-file" in result.stderr
    assert "Traceback" not in result.stderr


def test_public_key_is_refused_without_echoing_it() -> None:
    env = clean_env(OPAY_MERCHANT_ID="256612345678901", OPAY_SECRET_KEY="OPAYPUB_oops_123")
    result = run("close", "--reference", "R1", "--country", "EG", env=env)
    assert result.returncode == 2
    assert "secret key" in result.stderr
    assert "OPAYPUB_oops_123" not in result.stderr


def test_bad_arguments_exit_2() -> None:
    assert run("close", "--simulate", "--reference", "R").returncode == 2  # no --country
    assert run("close-many", "no-such-file.csv", "--simulate").returncode == 2
    result = run("close", "--simulate", "--reference", "R", "--country", "EGY")
    assert result.returncode == 2
    assert "country: must be two ASCII letters" in result.stderr


def test_close_many_csv_writes_one_line_per_row(tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    result = run(
        "close-many", str(EXAMPLE), "--simulate", "--concurrency", "20", "--output", str(output)
    )
    rows = EXAMPLE.read_text().strip().splitlines()[1:]
    records = read_jsonl(output)
    assert len(records) == len(rows)
    assert sorted(r["row"] for r in records) == list(range(1, len(rows) + 1))
    failed = [r for r in records if not r["ok"]]
    # The example's five bad rows fail validation; every other row is closed.
    assert len(failed) == 5
    assert all(r["error_type"] == "OPayValidationError" and r["attempts"] == 0 for r in failed)
    assert {r["reference"] for r in failed} >= {"SHOP-2026-BADCOUNTRY", "SHOP-2026-LEGACY"}
    assert all(r["order_status"] == "CLOSE" for r in records if r["ok"])
    assert result.returncode == 1
    assert "close-many summary" in result.stderr
    assert "closed" in result.stderr
    # What the summary quotes is what the file holds: grep finds it.
    quoted = re.search(r'have\s+("ok": ?false)', result.stderr)
    assert quoted is not None, result.stderr
    assert output.read_text().count(quoted.group(1)) == 5
    # Amounts in major units with their currency: the closed rows' totals, summed.
    for currency in ("EGP", "NGN"):
        minor = sum(r["amount_minor"] for r in records if r["ok"] and r["currency"] == currency)
        assert f"{currency} {Decimal(minor).scaleb(-2):,}" in result.stderr
    bad = next(r for r in records if r["reference"] == "SHOP-2026-BADCOUNTRY")
    assert bad["country"] == "EGY"  # what the row said, not null


def test_the_docs_quote_the_records_as_written() -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    assert '"ok": false' not in page
    assert '"ok":false' in page


def test_close_many_plain_stdin_to_stdout() -> None:
    result = run("close-many", "-", "--simulate", "--country", "NG", stdin="A-1\n\nA-2\nA-3\n")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["reference"] for r in records) == ["A-1", "A-2", "A-3"]
    assert all(r["ok"] and r["country"] == "NG" for r in records)


def test_existing_output_needs_resume_or_force(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text("")
    source = tmp_path / "refs.txt"
    source.write_text("A-1\n")
    result = run(
        "close-many", str(source), "--simulate", "--country", "EG", "--output", str(output)
    )
    assert result.returncode == 2
    assert "--resume" in result.stderr
    forced = run(
        "close-many",
        str(source),
        "--simulate",
        "--country",
        "EG",
        "--output",
        str(output),
        "--force",
    )
    assert forced.returncode == 0
    assert len(read_jsonl(output)) == 1


def test_resume_skips_rows_already_closed(tmp_path: Path) -> None:
    source = tmp_path / "refs.csv"
    source.write_text("reference,country\nA-1,EG\nA-2,EG\n")
    output = tmp_path / "out.jsonl"
    assert run("close-many", str(source), "--simulate", "--output", str(output)).returncode == 0
    source.write_text("reference,country\nA-1,EG\nA-2,EG\nA-3,NG\n")
    result = run("close-many", str(source), "--simulate", "--output", str(output), "--resume")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(output)
    assert [r["reference"] for r in records][-1] == "A-3"
    assert len(records) == 3
    assert "skipped" in result.stderr


def test_sigint_mid_run_keeps_output_valid_and_resumable(tmp_path: Path) -> None:
    source = tmp_path / "refs.txt"
    source.write_text("".join(f"R-{i}\n" for i in range(400)))
    output = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opay_async",
            "close-many",
            str(source),
            "--simulate",
            "--country",
            "EG",
            "--concurrency",
            "2",
            "--output",
            str(output),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if output.exists() and output.read_text().count("\n") >= 20:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    records = read_jsonl(output)  # every line is complete JSON
    assert 20 <= len(records) < 400
    assert all(r["ok"] for r in records)

    resumed = run(
        "close-many",
        str(source),
        "--simulate",
        "--country",
        "EG",
        "--concurrency",
        "50",
        "--output",
        str(output),
        "--resume",
    )
    assert resumed.returncode == 0, resumed.stderr
    references = [r["reference"] for r in read_jsonl(output)]
    assert sorted(set(references)) == sorted(f"R-{i}" for i in range(400))
    assert len(references) == 400  # nothing closed twice, nothing lost
    del stdout


def test_against_a_served_simulator_and_no_secret_is_printed(
    served_simulator: str, tmp_path: Path
) -> None:
    env = clean_env(
        OPAY_MERCHANT_ID=FakeOPay().merchant_id,
        OPAY_SECRET_KEY=SECRET,
        OPAY_BASE_URL=served_simulator,
    )
    one = run("close", "--reference", "SRV-1", "--country", "EG", "-v", env=env)
    assert one.returncode == 0, one.stderr
    output = tmp_path / "out.jsonl"
    many = run(
        "close-many", str(EXAMPLE), "--output", str(output), "-v", "--concurrency", "8", env=env
    )
    assert many.returncode == 1  # the example's bad rows
    wrong_key = run(
        "close",
        "--reference",
        "SRV-2",
        "--country",
        "EG",
        env={**env, "OPAY_SECRET_KEY": "OPAYPRV_wrong_key"},
    )
    assert wrong_key.returncode == 1
    assert "02000" in wrong_key.stderr

    emitted = (
        "".join(
            [one.stdout, one.stderr, many.stdout, many.stderr, wrong_key.stdout, wrong_key.stderr]
        )
        + output.read_text()
    )
    assert "DEBUG opay_async" in emitted  # -v really logged every attempt
    assert SECRET not in emitted
    assert "OPAYPRV_wrong_key" not in emitted
    assert not SIGNATURE.search(emitted)
