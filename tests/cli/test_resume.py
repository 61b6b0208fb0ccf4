"""``--resume`` never writes a row twice: done rows are skipped, retried ones supersede."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opay_async._cli._resume import read_earlier
from opay_async._cli._text import json_line
from tests.helpers import EXAMPLE, env_for, read_jsonl, run, spawned, stub_server, success

#: Rows of examples/stale_orders.csv that are not valid (no reference, a bad country).
INVALID_ROWS = [42, 98, 151, 204, 261]


def current(path: Path) -> dict[int, dict[str, Any]]:
    """Each row's current record: the one no later line supersedes (fails on a duplicate)."""
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the file ends with a whole line"
    records = [json.loads(line) for line in lines[:-1]]  # every line parses
    superseded = {r["supersedes"] for r in records if r["supersedes"] is not None}
    for number in superseded:
        assert 1 <= number <= len(records)
    rows = Counter(r["row"] for n, r in enumerate(records, 1) if n not in superseded)
    assert max(rows.values(), default=1) == 1, [row for row, n in rows.items() if n > 1]
    return {r["row"]: r for n, r in enumerate(records, 1) if n not in superseded}


def wait_for_lines(path: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.005)
    raise AssertionError(f"{path} never held {count} lines")


def stopped_at(output: Path, lines: int, sig: signal.Signals) -> int:
    """Run the example on the simulator, send ``sig`` once ``lines`` are written; its code."""
    with spawned(
        "close-many",
        str(EXAMPLE),
        "--simulate",
        "--concurrency",
        "2",
        "--output",
        str(output),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as process:
        wait_for_lines(output, lines)
        process.send_signal(sig)
        return process.wait(timeout=30)


def test_ctrl_c_at_row_196_then_resume_gives_one_line_per_row(tmp_path: Path) -> None:
    """The issue's run: 304 lines for 300 rows, the rows that were not valid twice."""
    output = tmp_path / "results.jsonl"
    assert stopped_at(output, 196, signal.SIGINT) == 130
    first = read_jsonl(output)
    resumed = run("close-many", str(EXAMPLE), "--simulate", "--output", str(output), "--resume")
    assert resumed.returncode == 1, resumed.stderr  # the rows that are not valid stay so
    records = read_jsonl(output)
    assert len(records) == 300, len(records)  # one line per row, nothing superseded
    assert sorted(r["row"] for r in records) == list(range(1, 301))
    assert sorted(r["row"] for r in records if not r["ok"]) == INVALID_ROWS
    assert all(r["supersedes"] is None for r in records)
    failed_before = sum(1 for r in first if not r["ok"])
    assert failed_before >= 3  # rows 42, 98 and 151 came before row 196
    assert f"{failed_before} rows were not sent again" in resumed.stderr
    again = run("close-many", str(EXAMPLE), "--simulate", "--output", str(output), "--resume")
    assert again.returncode == 1
    assert output.read_bytes().count(b"\n") == 300  # a fixed point: nothing new to write


def test_sigkill_mid_run_then_resume_leaves_only_whole_lines(tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    assert stopped_at(output, 120, signal.SIGKILL) == -signal.SIGKILL
    resumed = run("close-many", str(EXAMPLE), "--simulate", "--output", str(output), "--resume")
    assert resumed.returncode == 1, resumed.stderr
    rows = current(output)  # every line parses, one current record per row
    assert sorted(rows) == list(range(1, 301))


class ScriptedOPay:
    """Answers by the reference's prefix; ``busy`` failures stop once ``fixed``."""

    def __init__(self) -> None:
        self.fixed = False
        self.sent: Counter[str] = Counter()

    def __call__(self, body: dict[str, str]) -> dict[str, Any]:
        reference = body.get("reference", "")
        self.sent[reference] += 1
        if reference.startswith("GONE"):
            return {"code": "02006", "message": "payment not found."}
        if reference.startswith("PAID"):
            return success(body, status="SUCCESS")
        if reference.startswith("FAILED"):
            return success(body, status="FAIL")
        if reference.startswith("BUSY") and not self.fixed:
            return {"code": "50003", "message": "service not available, please try again"}
        if reference.startswith("KEY") and not self.fixed:
            return {"code": "02000", "message": "authentication failed."}
        return success(body)


ROWS = "reference,country\nOK-1,EG\nGONE-1,EG\nPAID-1,EG\nFAILED-1,EG\nBUSY-1,EG\nKEY-1,EG\n"


def test_final_failures_are_not_sent_again_and_retried_rows_supersede(tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text(ROWS + "BAD-1,EGY\n,,EG\n")
    output = tmp_path / "out.jsonl"
    opay = ScriptedOPay()
    with stub_server(opay) as server:
        env = env_for(server.url)
        args = ("close-many", str(source), "--output", str(output), "--attempts", "1")
        first = run(*args, env=env)
        assert first.returncode == 4, first.stderr  # KEY-1's 02000: stopped (nothing left)
        assert "no row was left to send" in first.stderr.splitlines()[-1]
        before = read_jsonl(output)
        assert len(before) == 8
        bad = next(r for r in before if r["row"] == 7)
        assert (bad["reference"], bad["country"]) == ("BAD-1", "EGY")  # what the row said
        assert bad["error_type"] == "OPayValidationError"

        opay.fixed = True  # the outage is over, the key was fixed
        opay.sent.clear()
        resumed = run(*args, "--resume", env=env)
        assert resumed.returncode == 1, resumed.stderr  # GONE, PAID, FAILED, BAD, blank
        assert opay.sent == {"BUSY-1": 1, "KEY-1": 1}  # nothing else was sent again
        lines = {r["row"]: (n, r) for n, r in enumerate(before, 1)}
        after = read_jsonl(output)
        assert len(after) == 10
        for record in after[8:]:
            earlier_line, earlier = lines[record["row"]]
            assert record["supersedes"] == earlier_line
            assert record["reference"] == earlier["reference"]
            assert record["ok"]
        assert sorted(r["reference"] for r in after[8:]) == ["BUSY-1", "KEY-1"]
        rows = current(output)
        assert [rows[n]["ok"] for n in range(1, 9)] == [
            True,
            *[False] * 3,
            True,
            True,
            False,
            False,
        ]
        assert "skipped: failed for good in an earlier run" in resumed.stderr
        assert "5 rows were not sent again" in resumed.stderr

        opay.sent.clear()
        again = run(*args, "--resume", env=env)
        assert again.returncode == 1
        assert not opay.sent
        assert len(read_jsonl(output)) == 10  # a fixed point

        source.write_text(ROWS + "BAD-1,EG\n,,EG\n")  # the operator fixes the bad row
        fixed = run(*args, "--resume", env=env)
        assert fixed.returncode == 1, fixed.stderr  # GONE, PAID, FAILED and the blank row
        assert opay.sent == {"BAD-1": 1}
        last = read_jsonl(output)[-1]
        assert (last["reference"], last["country"], last["ok"]) == ("BAD-1", "EG", True)
        assert last["supersedes"] == lines[7][0]
        assert current(output)[7]["ok"]


def test_a_row_with_no_country_is_sent_once_given_one(tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("reference,country\nN-1,\nN-2,EG\n")
    output = tmp_path / "out.jsonl"
    first = run("close-many", str(source), "--simulate", "--output", str(output))
    assert first.returncode == 1
    refused = read_jsonl(output)[0]
    assert (refused["reference"], refused["country"], refused["ok"]) == ("N-1", None, False)
    same = run("close-many", str(source), "--simulate", "--output", str(output), "--resume")
    assert same.returncode == 1
    assert len(read_jsonl(output)) == 2  # the same row, the same problem: not again
    given = run(
        "close-many", str(source), "--simulate", "--output", str(output), "--resume",
        "--country", "NG",
    )  # fmt: skip
    assert given.returncode == 0, given.stderr  # every row is closed now
    last = read_jsonl(output)[-1]
    assert (last["reference"], last["country"], last["ok"], last["supersedes"]) == (
        "N-1",
        "NG",
        True,
        1,
    )


OUTCOMES = {
    "closed": {"ok": True, "order_status": "CLOSE", "error_type": None},
    "not found": {"ok": False, "order_status": None, "error_type": "PaymentNotFoundError"},
    "paid": {"ok": False, "order_status": "SUCCESS", "error_type": "PaymentAlreadyPaidError"},
    "busy": {"ok": False, "order_status": None, "error_type": "ServiceUnavailableError"},
    "bad key": {"ok": False, "order_status": None, "error_type": "AuthenticationError"},
    "invalid": {"ok": False, "order_status": None, "error_type": "OPayValidationError"},
}
FINAL = {"closed", "not found", "paid", "invalid"}


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["A", "B", "C", "D", ""]), st.sampled_from(["", "7", "8"])),
        min_size=1,
        max_size=8,
    ),
    runs=st.lists(
        st.lists(st.sampled_from(sorted(OUTCOMES)), min_size=8, max_size=8),
        min_size=1,
        max_size=4,
    ),
    stop_after=st.lists(st.integers(min_value=0, max_value=8), min_size=4, max_size=4),
)
def test_any_history_of_runs_leaves_one_current_record_per_row(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, str]],
    runs: list[list[str]],
    stop_after: list[int],
) -> None:
    """Runs stopped anywhere, with any outcomes: one current record per row, and a row
    whose outcome was final is never written again (the rule of ``Earlier.decide``)."""
    path = tmp_path_factory.mktemp("history") / "out.jsonl"
    path.write_bytes(b"")
    final_rows: set[int] = set()
    for outcomes, stop in zip(runs, stop_after, strict=False):
        earlier = read_earlier(str(path))
        with path.open("ab") as stream:
            for number, (reference, order_no) in enumerate(rows[:stop], 1):
                row = {"reference": reference, "order_no": order_no, "country": "EG"}
                skip, supersedes = earlier.decide(number, row, None)
                if skip is not None:
                    continue
                assert number not in final_rows, (number, rows)
                outcome = outcomes[number - 1] if reference or order_no else "invalid"
                stream.write(
                    json_line(
                        {
                            "row": number,
                            "reference": reference or None,
                            "order_no": order_no or None,
                            "country": "EG",
                            **OUTCOMES[outcome],
                            "supersedes": supersedes,
                        }
                    )
                )
                if outcome in FINAL:
                    final_rows.add(number)
    written = current(path)  # one current record per row that was written
    assert set(written) <= set(range(1, len(rows) + 1))
