"""Bad settings end in one line and exit code 2: key files, numbers, the simulator's needs."""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opay_async.testing import FakeOPay
from tests.helpers import ROOT, Ran, assert_usage_error, clean_env, run, spawned

SECRET = "OPAYPRV_settings_secret_4d2e"


def close_with_key_file(path: Path | str, env: dict[str, str] | None = None) -> Ran:
    return run(
        "close",
        "--reference",
        "K-1",
        "--country",
        "EG",
        "--secret-key-file",
        str(path),
        env=env or clean_env(OPAY_MERCHANT_ID=FakeOPay().merchant_id),
    )


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe\x00OPAYPRV", "not UTF-8 text"),
        (b"OPAYPRV_" + b"A" * 10_000, "too large for a key file"),
        (b"", "is empty"),
        (b"  \r\n", "must be a non-empty string"),
        (SECRET.encode() + b"\x00\x1b", "must not contain control characters"),
        (SECRET.encode() + b"\nsecond line\n", "must not contain control characters"),
        (b"OPAYPUB_public_key_33\n", "public key"),
    ],
    ids=["binary", "huge", "empty", "blank", "control", "two-lines", "public"],
)
def test_secret_key_files_that_hold_no_key(tmp_path: Path, content: bytes, needle: str) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    ran = close_with_key_file(key_file)
    line = assert_usage_error(ran, "--secret-key-file", needle)
    assert SECRET not in line
    assert "OPAYPUB_public_key_33" not in line


def test_a_secret_key_file_that_is_a_directory(tmp_path: Path) -> None:
    ran = close_with_key_file(tmp_path)
    assert_usage_error(ran, "cannot read --secret-key-file", "Is a directory")


def test_an_endless_secret_key_file_is_read_bounded() -> None:
    ran = close_with_key_file("/dev/zero")
    assert_usage_error(ran, "must not contain control characters")
    assert ran.seconds < 20


@pytest.fixture
def served() -> Iterator[str]:
    """``opay-async simulate`` with its default key, on a free port."""
    with spawned(
        "simulate", "--port", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        banner = process.stdout.readline().decode()
        url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert url, banner
        yield url.group(0)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_a_crlf_secret_key_file_signs_correctly(tmp_path: Path, served: str) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(FakeOPay().secret_key.encode() + b"\r\n")
    env = clean_env(OPAY_MERCHANT_ID=FakeOPay().merchant_id, OPAY_BASE_URL=served)
    ran = close_with_key_file(key_file, env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("CLOSE reference=K-1")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--concurrency", "0"),
        ("--concurrency", "-3"),
        ("--concurrency", "ten"),
        ("--concurrency", "1e3"),
        ("--concurrency", "99999999999999999999"),
        ("--rate", "0"),
        ("--rate", "nan"),
        ("--rate", "inf"),
        ("--rate", "-1"),
        ("--timeout", "0"),
        ("--timeout", "1e400"),
        ("--timeout", "-inf"),
        ("--attempts", "0"),
        ("--attempts", "2.5"),
        ("--attempts", "1000"),
    ],
)
def test_bad_numbers(option: str, value: str) -> None:
    ran = run("close-many", "-", "--simulate", "--country", "EG", f"{option}={value}", stdin="")
    assert_usage_error(ran, f"argument {option}: must be")


def test_bad_settings_from_the_environment_name_their_variable() -> None:
    env = clean_env(
        OPAY_MERCHANT_ID="256612345678901", OPAY_SECRET_KEY=SECRET, OPAY_ENVIRONMENT="staging"
    )
    ran = run("close", "--reference", "R", "--country", "EG", env=env)
    assert_usage_error(ran, "environment", "$OPAY_ENVIRONMENT")
    env["OPAY_ENVIRONMENT"] = "sandbox"
    env["OPAY_BASE_URL"] = "http://127.0.0.1:8000/\x1b[2J"
    ran = run("close", "--reference", "R", "--country", "EG", env=env)
    line = assert_usage_error(ran, "base_url", "$OPAY_BASE_URL")
    assert "\x1b" not in line
    ran = run("close", "--reference", "R", "--country", "EG", "--merchant-id", " ", env=env)
    assert_usage_error(ran, "merchant_id", "--merchant-id")


def test_simulate_without_the_simulator_extra() -> None:
    without_uvicorn = [
        sys.executable,
        "-c",
        "import sys\n"
        "sys.modules['uvicorn'] = None  # as if it were not installed\n"
        "from opay_async._cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n",
    ]
    ran = run("simulate", "--port", "0", command=without_uvicorn)
    line = assert_usage_error(ran, "needs the simulator extra: ", " -m pip install ")
    # This checkout is installed editable (as nox and the README do): the hint names it,
    # not the index, where opay-async is not published.
    words = shlex.split(line.partition("needs the simulator extra: ")[2])
    assert words[1:5] == ["-m", "pip", "install", "-e"], words
    assert words[5].endswith("[simulator]"), words
    assert Path(words[5].removesuffix("[simulator]")).resolve() == ROOT.resolve()
    assert (ROOT / "pyproject.toml").read_text().count('name = "opay-async"') == 1


def test_simulate_on_a_port_that_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = run("simulate", "--port", str(port))
    assert_usage_error(ran, f"cannot listen on 127.0.0.1:{port}")


def test_simulate_on_a_port_out_of_range() -> None:
    assert_usage_error(run("simulate", "--port", "70000"), "argument --port")


@pytest.mark.parametrize("value", ["SHOP\x1b[2J", "  ", "A\u202eB"])
def test_close_refuses_identifiers_that_cannot_be_meant(value: str) -> None:
    ran = run("close", "--simulate", "--reference", value, "--country", "EG")
    line = assert_usage_error(ran, "argument --reference")
    assert "\x1b" not in line
    assert "\u202e" not in line


def test_simulate_with_a_bad_merchant_id() -> None:
    assert_usage_error(run("simulate", "--port", "0", "--merchant-id", " "), "merchant_id")


def test_simulate_with_a_bad_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"OPAYPUB_not_this_one\n")
    ran = run("simulate", "--port", "0", "--secret-key-file", str(key_file))
    line = assert_usage_error(ran, "--secret-key-file", "public key")
    assert "OPAYPUB_not_this_one" not in line


def test_simulate_banner_faults_and_latency(tmp_path: Path) -> None:
    key_file = tmp_path / "my key"
    key_file.write_text(SECRET + "\n")
    with spawned(
        "simulate",
        "--port",
        "0",
        "--secret-key-file",
        str(key_file),
        "--fault-rate",
        "http_502=0.25",
        "--latency",
        "0.01-0.02",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        banner = [process.stdout.readline().decode() for _ in range(11)]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    shown = "".join(banner)
    assert banner[0].startswith("OPay simulator listening on http://127.0.0.1:")
    assert "HTTP 502 25.0%" in shown
    assert "0.01-0.02 s" in shown
    assert f"OPAY_SECRET_KEY=\"$(cat '{key_file}')\"" in shown
    assert SECRET not in shown
    assert banner[-1] == "Ctrl-C stops it.\n"


@pytest.mark.parametrize(
    ("option", "value"), [("--fault-rate", "2"), ("--fault-rate", "boom=0.1"), ("--latency", "x")]
)
def test_simulate_refuses_bad_faults_and_latency(option: str, value: str) -> None:
    assert_usage_error(run("simulate", option, value), f"argument {option}")
