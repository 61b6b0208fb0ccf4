"""Results files that cannot be written, or were torn by a crash: one line, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, assert_usage_error, read_jsonl, run, spawned


@pytest.fixture
def refs(tmp_path: Path) -> Path:
    source = tmp_path / "refs.csv"
    source.write_text("reference,country\n" + "".join(f"A-{n},EG\n" for n in range(1, 5)))
    return source


def test_output_naming_a_directory(tmp_path: Path, refs: Path) -> None:
    ran = run("close-many", str(refs), "--simulate", "--output", str(tmp_path))
    assert_usage_error(ran, "is a directory")


def test_output_under_a_file(refs: Path) -> None:
    ran = run("close-many", str(refs), "--simulate", "--output", f"{refs}/out.jsonl")
    assert_usage_error(ran, "cannot use --output", "Not a directory")


def test_output_in_a_missing_directory(tmp_path: Path, refs: Path) -> None:
    output = tmp_path / "missing" / "out.jsonl"
    ran = run("close-many", str(refs), "--simulate", "--output", str(output))
    assert_usage_error(ran, "cannot write --output", "No such file or directory")


@pytest.mark.parametrize("mode", ["--force", "--resume"])
def test_output_naming_the_input_never_overwrites_it(refs: Path, mode: str) -> None:
    before = refs.read_bytes()
    ran = run("close-many", str(refs), "--simulate", "--output", str(refs), mode)
    assert_usage_error(ran, "is the input file")
    assert refs.read_bytes() == before


def test_resume_refuses_a_file_that_is_not_a_results_file(tmp_path: Path, refs: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("call the bank\nabout the refunds\n")
    ran = run("close-many", str(refs), "--simulate", "--output", str(other), "--resume")
    assert_usage_error(ran, "not a results file")
    assert other.read_text() == "call the bank\nabout the refunds\n"


def test_resume_drops_a_torn_last_line_and_does_its_row_again(tmp_path: Path, refs: Path) -> None:
    output = tmp_path / "out.jsonl"
    closed = {"order_no": None, "country": "EG", "ok": True, "order_status": "CLOSE"}
    with output.open("w") as stream:
        for row in (1, 2):
            stream.write(json.dumps({"row": row, "reference": f"A-{row}", **closed}) + "\n")
        # A crash (or a full disk) mid-write: the first bytes of row 3's record.
        stream.write('{"row":3,"reference":"A-3","order_no":null,"coun')
    ran = run("close-many", str(refs), "--simulate", "--output", str(output), "--resume")
    assert ran.returncode == 0, ran.stderr
    assert "dropped the partial last line" in ran.stderr
    data = output.read_bytes()
    assert data.endswith(b"\n")
    records = [json.loads(line) for line in data.splitlines()]  # every line parses
    assert [r["reference"] for r in records[:2]] == ["A-1", "A-2"]
    assert sorted(r["reference"] for r in records[2:]) == ["A-3", "A-4"]  # A-3 done again
    assert all(r["ok"] for r in records)
    # And again: every row shows closed, once.
    again = run("close-many", str(refs), "--simulate", "--output", str(output), "--resume")
    assert again.returncode == 0
    assert len(read_jsonl(output)) == 4
    assert "dropped" not in again.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_mid_run_stops_with_one_line() -> None:
    ran = run("close-many", str(EXAMPLE), "--simulate", "--output", "/dev/full")
    assert ran.returncode == 2
    assert "Traceback" not in ran.stderr
    last = ran.stderr.splitlines()[-1]
    assert last.startswith("opay-async: error: cannot write to /dev/full: No space left"), last
    assert "Exception ignored" not in ran.stderr
    assert ran.seconds < 30


def test_a_reader_that_goes_away_stops_the_run() -> None:
    """``opay-async close-many ... | head -1``: the pipe closes, the command stops."""
    with spawned(
        "close-many",
        str(EXAMPLE),
        "--simulate",
        "--concurrency",
        "2",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(b'{"row":')
        process.stdout.close()
        process.wait(timeout=30)
        assert process.stderr is not None
        stderr = process.stderr.read().decode()
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    last = stderr.splitlines()[-1]
    assert "cannot write to standard output: the reader closed it (broken pipe)" in last
    assert "--resume" not in last


def test_a_bad_setting_leaves_the_results_file_alone(tmp_path: Path, refs: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text('{"row":1}\n')
    for bad in (["--country", "EGY"], ["--rate", "0"], ["--secret-key-file", str(tmp_path)]):
        ran = run("close-many", str(refs), "--output", str(output), "--force", *bad)
        assert_usage_error(ran)
        assert output.read_text() == '{"row":1}\n'
