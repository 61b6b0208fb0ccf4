"""Input, output and settings the command cannot use end in one line and exit code 2.

Each case runs the command as a subprocess, bounded in time. Cases that must fail before
anything is sent run against a loopback server that counts what reaches it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.helpers import (
    CONTROL,
    assert_usage_error,
    env_for,
    run,
    spawned,
    stub_server,
)

#: Peak memory (KiB) the command may reach reading a hostile input.
RSS_BOUND_KIB = 150 * 1024
#: Runs the command and reports its peak memory on stderr's last line: the peak of this
#: program (Linux's ``VmHWM``, which starts again at ``exec``), not ``ru_maxrss``, which
#: carries over the peak of the process that forked it (a large pytest worker).
MEASURED = [
    sys.executable,
    "-c",
    "import resource, sys\n"
    "from opay_async._cli import main\n"
    "code = main(sys.argv[1:])\n"
    "try:\n"
    "    with open('/proc/self/status') as status:\n"
    "        peak = next(int(l.split()[1]) for l in status if l.startswith('VmHWM:'))\n"
    "except OSError:\n"
    "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "print(f'maxrss={peak}', file=sys.stderr)\n"
    "sys.exit(code)\n",
]


def never_answer(body: object) -> object:
    raise AssertionError(f"nothing should have been sent, got {body!r}")


def refused_before_sending(tmp_path: Path, data: bytes, *needles: str) -> str:
    """Run close-many on ``data``; assert exit 2, one line, nothing sent, nothing written."""
    source = tmp_path / "input.csv"
    source.write_bytes(data)
    output = tmp_path / "out.jsonl"
    with stub_server(never_answer) as server:
        ran = run("close-many", str(source), "--output", str(output), env=env_for(server.url))
        assert server.requests == []
    assert not output.exists()
    return assert_usage_error(ran, *needles)


def test_bad_utf8_after_1000_good_rows_fails_before_anything_is_sent(tmp_path: Path) -> None:
    good = "".join(f"SHOP-{n},EG\n" for n in range(1000))
    data = f"reference,country\n{good}".encode() + b"SHOP-\xff\xfe,EG\nSHOP-LAST,EG\n"
    line = refused_before_sending(tmp_path, data, "line 1002", "not UTF-8", "0xff")
    assert "input.csv" in line


def test_a_latin1_file(tmp_path: Path) -> None:
    data = "reference,country\nCAFÉ-1,EG\n".encode("latin-1")
    refused_before_sending(tmp_path, data, "line 2: not UTF-8 text (byte 0xc9")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (bytes(range(256)) * 40, "line 1: a NUL byte"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "line 1: not UTF-8"),
        ("reference\nA1\n".encode("utf-16"), "UTF-16"),
        (b"reference,country\nA1\x00,EG\n", "line 2: a NUL byte"),
    ],
    ids=["bytes", "png", "utf-16", "nul"],
)
def test_binary_files(tmp_path: Path, data: bytes, needle: str) -> None:
    refused_before_sending(tmp_path, data, needle)


def test_a_field_over_the_csv_limit(tmp_path: Path) -> None:
    # An unclosed quote swallows the lines after it into one field.
    data = b'reference,country\n"SHOP-1,EG\n' + (b"x" * 60_000 + b"\n") * 4
    refused_before_sending(tmp_path, data, "line 2", "longer than 131072 characters")


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("reference,reference,country", "the reference column twice"),
        ("reference,country,country", "the country column twice"),
        ("orderNo,order_no,country", "orderNo and order_no are the same column"),
        ("Reference,REFERENCE ,country", "the reference column twice"),
    ],
)
def test_a_header_naming_a_column_twice_is_ambiguous(
    tmp_path: Path, header: str, needle: str
) -> None:
    refused_before_sending(tmp_path, f"{header}\nA1,A2,EG\n".encode(), "line 1", needle)


@pytest.mark.parametrize(
    ("data", "country", "needle"),
    [
        (b"country\nEG\n", [], "line 1: the header names neither reference nor orderNo"),
        (b"reference\nA1\n", [], "line 1: the header names no country column: pass --country"),
        (b"A1\nA2\n", [], "a list of references"),
        (b"\n\nA1,EG\n", ["--country", "EG"], "line 3: a comma in a reference"),
        (b"reference,country\nA1\x1b[2J,EG\n", [], "line 2: an unprintable character (U+001B)"),
        (b"reference,country\r\nA1,EG\rA2,EG\r\n", [], "line 2: a carriage return inside"),
        (b"A1\x1b]0;pwned\x07\n", ["--country", "EG"], "line 1: an unprintable character"),
    ],
    ids=["no-id", "no-country", "list-no-country", "headless-csv", "csi", "old-mac", "osc"],
)
def test_inputs_that_cannot_mean_what_they_say(
    tmp_path: Path, data: bytes, country: list[str], needle: str
) -> None:
    source = tmp_path / "input.csv"
    source.write_bytes(data)
    with stub_server(never_answer) as server:
        ran = run("close-many", str(source), *country, env=env_for(server.url))
    line = assert_usage_error(ran, needle)
    assert not any(c in ran.stderr for c in CONTROL), line  # escaped, never raw


def test_a_bom_on_standard_input_is_dropped() -> None:
    ran = run(
        "close-many", "-", "--simulate", stdin="\ufeffreference,country\r\nA-1,EG\r\nA-2,NG\r\n"
    )
    assert ran.returncode == 0, ran.stderr
    records = [json.loads(line) for line in ran.stdout.splitlines()]
    assert sorted((r["reference"], r["country"], r["ok"]) for r in records) == [
        ("A-1", "EG", True),
        ("A-2", "NG", True),
    ]


def measured_rss_kib(stderr: str) -> int:
    last = stderr.splitlines()[-1]
    assert last.startswith("maxrss="), stderr
    return int(last.removeprefix("maxrss="))


def test_an_enormous_line_on_a_pipe_is_not_read_whole() -> None:
    """300 MB without a newline, from a producer still writing: refused after 128 KiB."""
    written = 0

    def produce(stream: BinaryIO) -> None:
        nonlocal written
        block = b"A" * (1 << 20)
        try:
            for _ in range(300):
                stream.write(block)
                written += len(block)
        except BrokenPipeError:
            pass  # the command stopped reading: that is the point

    with spawned(
        "close-many",
        "-",
        "--simulate",
        "--country",
        "EG",
        command=MEASURED,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        assert process.stderr is not None
        # The pipe stays open while the producer writes: nothing closes it early.
        producer = threading.Thread(target=produce, args=(process.stdin,))
        producer.start()
        process.wait(timeout=60)
        producer.join(timeout=60)
        text = process.stderr.read().decode()
    assert process.returncode == 2, text
    assert "standard input line 1 is longer than 65536 bytes" in text.splitlines()[-2]
    assert "Traceback" not in text
    assert written < 100 << 20  # it stopped reading long before the end
    assert measured_rss_kib(text) < RSS_BOUND_KIB


def test_an_enormous_line_in_a_file_is_not_read_whole(tmp_path: Path) -> None:
    source = tmp_path / "huge.csv"
    with source.open("wb") as stream:
        stream.write(b"reference,country\nA1,EG\n")
        block = b"B" * (1 << 20)
        for _ in range(200):
            stream.write(block)
    ran = run("close-many", str(source), "--simulate", command=MEASURED)
    assert ran.returncode == 2
    lines = ran.stderr.splitlines()
    assert len(lines) == 2, ran.stderr  # the message, then the measurement
    assert "huge.csv line 3 is longer than 65536 bytes" in lines[0]
    assert measured_rss_kib(ran.stderr) < RSS_BOUND_KIB
    assert ran.seconds < 20


@pytest.mark.parametrize("argument", ["no-such-file.csv", "."], ids=["missing", "directory"])
def test_an_input_that_is_not_a_file(argument: str, tmp_path: Path) -> None:
    ran = run("close-many", str(tmp_path / argument), "--simulate")
    assert_usage_error(ran, "cannot read")


def test_an_input_that_cannot_be_opened(tmp_path: Path) -> None:
    """A path that exists but cannot be read (a socket here; as root, nothing is denied)."""
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        ran = run("close-many", str(path), "--simulate", "--country", "EG")
    assert_usage_error(ran, f"cannot read {path}: No such device or address")


def test_a_bad_line_on_standard_input_stops_the_run_there() -> None:
    """Standard input cannot be read twice: a bad line stops the run there, one line last."""
    rows = "reference,country\n" + "".join(f"S-{n},EG\n" for n in range(3))
    ran = run("close-many", "-", "--simulate", stdin=rows.encode() + b"S-\xe9,EG\nS-9,EG\n")
    assert ran.returncode == 2
    assert "Traceback" not in ran.stderr
    last = ran.stderr.splitlines()[-1]
    assert last.startswith("opay-async: error: standard input line 5: not UTF-8"), last
    records = [json.loads(line) for line in ran.stdout.splitlines()]
    assert sorted(r["reference"] for r in records) == ["S-0", "S-1", "S-2"]


def test_nothing_from_the_server_reaches_the_terminal_raw(tmp_path: Path) -> None:
    """Codes, statuses and messages with escape sequences are shown escaped."""

    def hostile(body: dict[str, str]) -> dict[str, object]:
        if body.get("reference", "").endswith("1"):
            return {"code": "\x1b[2J02006", "message": "\x1b]0;pwned\x07 not found\x9b31m"}
        return {
            "code": "00000",
            "message": "SUCCESSFUL",
            "data": {
                "reference": body.get("reference"),
                "orderNo": "2110\x1b[5m",
                "country": body["country"],
                "amount": {"total": 400, "currency": "EGP"},
                "orderStatus": "\x1b[31mCLOSE\x07",
            },
        }

    source = tmp_path / "refs.txt"
    source.write_text("".join(f"H-{n}\n" for n in range(4)))
    with stub_server(hostile) as server:
        env = env_for(server.url)
        many = run("close-many", str(source), "--country", "EG", "--attempts", "1", env=env)
        one = run("close", "--reference", "H-1", "--country", "EG", env=env)
        two = run("close", "--reference", "H-2", "--country", "EG", env=env)
        both = run("close", "--reference", "H-2", "--country", "EG", "--json", env=env)
        assert len(server.requests) == 7
    for ran in (many, one, two, both):
        assert "Traceback" not in ran.stderr
        for shown in (ran.stdout, ran.stderr):
            assert not any(c in shown for c in CONTROL), repr(shown)
    assert many.returncode == 1
    assert one.returncode == 1


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_device_is_refused_bounded() -> None:
    ran = run("close-many", "/dev/zero", "--simulate", "--country", "EG")
    assert_usage_error(ran, "/dev/zero line 1 is longer than 65536 bytes")
    assert ran.seconds < 20


def test_a_named_pipe_is_read_as_a_stream(tmp_path: Path) -> None:
    """``close-many <(psql ...)``: a FIFO is read once, as it comes, not counted first."""
    fifo = tmp_path / "rows"
    os.mkfifo(fifo)

    def produce() -> None:
        with fifo.open("wb") as stream:  # blocks until the command opens it
            stream.write(b"reference,country\nN-1,EG\nN-2,NG\n")

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        ran = run("close-many", str(fifo), "--simulate", timeout=30)
    finally:
        if producer.is_alive():  # the command never opened it: unblock the producer
            with fifo.open("rb") as unblock:
                unblock.read()
        producer.join(timeout=10)
    assert ran.returncode == 0, ran.stderr
    assert sorted(json.loads(line)["reference"] for line in ran.stdout.splitlines()) == [
        "N-1",
        "N-2",
    ]


def test_verbose_logs_show_no_control_character_the_server_sent() -> None:
    """A hostile reason phrase and order status: -v's lines carry neither raw.

    httpx2 logged the reason phrase as the server sent it (-v showed it escaped); -v now
    shows the SDK's lines only, and those quote the answer scrubbed.
    """

    def odd(body: dict[str, str]) -> dict[str, object]:
        return {
            "code": "00000",
            "message": "SUCCESSFUL",
            "data": {
                "reference": body["reference"],
                "orderNo": "211",
                "country": body["country"],
                "amount": {"total": 400, "currency": "EGP"},
                "orderStatus": "ODD\x1b]0;pwned\x07",
            },
        }

    with stub_server(odd, reason="OK\x1b]0;pwned\x07") as server:
        ran = run(
            "close", "--reference", "V-1", "--country", "EG", "-v", "--attempts", "1",
            env=env_for(server.url),
        )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert "DEBUG opay_async: close reference=V-1 " in ran.stderr
    assert "PaymentNotClosedError" in ran.stderr
    assert "pwned" in ran.stderr  # the state is quoted...
    assert not any(c in ran.stderr + ran.stdout for c in CONTROL)  # ...never raw
