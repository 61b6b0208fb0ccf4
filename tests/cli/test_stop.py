"""``close-many`` stops sending on a dead key, says why in one line, exits 4; ``--resume`` ends it.

End to end: the simulator over HTTP (in a thread of the test), its key rotated mid-run,
the command as a subprocess; then ``--resume`` with the new key.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from opay_async import (
    AuthenticationError,
    CloseOutcome,
    CloseRequest,
    OPayError,
    OrderStatus,
    Payment,
    RunStoppedError,
)
from opay_async._cli._exit import EXIT_STOPPED
from opay_async._cli._parser import build_parser
from opay_async._cli._report import Tally
from tests.cli.test_resume import current
from tests.helpers import (
    KeyRotatedMidRun,
    clean_env,
    read_jsonl,
    run,
    served_in_a_thread,
)

OLD_KEY = "OPAYPRV_old_key_rotated_mid_run_7"
NEW_KEY = "OPAYPRV_new_key_after_rotation_9"


def stale_csv(path: Path, rows: int) -> Path:
    path.write_text("reference,country\n" + "".join(f"STALE-{n},EG\n" for n in range(rows)))
    return path


def env(fake: KeyRotatedMidRun, url: str, key: str) -> dict[str, str]:
    return clean_env(OPAY_MERCHANT_ID=fake.merchant_id, OPAY_SECRET_KEY=key, OPAY_BASE_URL=url)


def test_the_issues_run_stops_then_resume_with_the_new_key_sends_exactly_the_rest(
    tmp_path: Path,
) -> None:
    """4,500 rows at concurrency 50, the key rotated after 500 closes (it sent 4,499 more)."""
    rows, closes = 4_500, 500
    stale = stale_csv(tmp_path / "stale.csv", rows)
    output = tmp_path / "results.jsonl"
    fake = KeyRotatedMidRun(closes, old_key=OLD_KEY, new_key=NEW_KEY, auto_create=True)
    with served_in_a_thread(fake) as url:
        first = run(
            "close-many",
            str(stale),
            "--concurrency",
            "50",
            "--output",
            str(output),
            env=env(fake, url, OLD_KEY),
        )
        sent_first, after_first_refusal, refused = (
            fake.request_count,
            fake.after_first_refusal,
            fake.refused,
        )
        resumed = run(
            "close-many",
            str(stale),
            "--concurrency",
            "50",
            "--output",
            str(output),
            "--resume",
            env=env(fake, url, NEW_KEY),
        )
        sent_again = fake.request_count - sent_first

    assert first.returncode == EXIT_STOPPED, first.stderr
    assert after_first_refusal <= 50  # the requests in flight, at most (it was 4,499)
    records = read_jsonl(output)[:rows]
    assert sorted(r["row"] for r in records) == list(range(1, rows + 1))  # one record per row
    kinds = Counter(r["error_type"] for r in records)
    assert kinds[None] == closes == sum(r["ok"] for r in records)
    assert kinds["AuthenticationError"] == refused
    assert kinds["RunStoppedError"] == rows - closes - refused
    for record in records:
        if record["error_type"] == "RunStoppedError":
            assert record["retryable"] is True and record["attempts"] == 0
            assert record["error"].startswith("not sent: the run stopped on AuthenticationError")
    last = first.stderr.splitlines()[-1]
    assert re.fullmatch(
        r"stopped: row \d+ was answered AuthenticationError \[02000\] \(authentication "
        r"failed\.\), which no later request could change: \d+ rows were not sent \(their "
        r'records in .* say "error_type":"RunStoppedError"\); fix the key or the '
        r"merchant's settings, then run again with --resume",
        last,
    ), last
    assert f"{kinds['RunStoppedError']} rows were not sent" in last
    assert "not sent: the run stopped" in first.stderr  # the summary's row
    for secret in (OLD_KEY, NEW_KEY):
        assert secret not in first.stderr + first.stdout + output.read_text()

    assert resumed.returncode == 0, resumed.stderr
    assert sent_again == rows - closes  # exactly the rows not closed, each once
    final = current(output)
    assert len(final) == rows and all(r["ok"] for r in final.values())
    assert fake.closed_count == rows


def test_keep_going_sends_every_row(tmp_path: Path) -> None:
    rows, closes = 300, 50
    stale = stale_csv(tmp_path / "stale.csv", rows)
    output = tmp_path / "results.jsonl"
    fake = KeyRotatedMidRun(closes, old_key=OLD_KEY, new_key=NEW_KEY, auto_create=True)
    with served_in_a_thread(fake) as url:
        ran = run(
            "close-many",
            str(stale),
            "--keep-going",
            "--output",
            str(output),
            env=env(fake, url, OLD_KEY),
        )
    assert ran.returncode == 1, ran.stderr
    assert fake.request_count == rows
    kinds = Counter(r["error_type"] for r in read_jsonl(output))
    assert kinds == {None: closes, "AuthenticationError": rows - closes}
    assert "stopped:" not in ran.stderr


def test_a_key_refused_from_the_first_row_sends_at_most_the_concurrency(tmp_path: Path) -> None:
    stale = stale_csv(tmp_path / "stale.csv", 1_000)
    output = tmp_path / "results.jsonl"
    fake = KeyRotatedMidRun(0, old_key=OLD_KEY, new_key=NEW_KEY, auto_create=True)
    with served_in_a_thread(fake) as url:
        ran = run(
            "close-many",
            str(stale),
            "--concurrency",
            "20",
            "--output",
            str(output),
            env=env(fake, url, OLD_KEY),
        )
    assert ran.returncode == EXIT_STOPPED, ran.stderr
    assert fake.request_count <= 20
    assert len(read_jsonl(output)) == 1_000


def test_the_parser_knows_keep_going_and_exit_code_4() -> None:
    parser = build_parser()
    assert parser.parse_args(["close-many", "f.csv"]).keep_going is False
    assert parser.parse_args(["close-many", "f.csv", "--keep-going"]).keep_going is True
    assert "4 stopped on a failure no later request could fix" in (parser.epilog or "")


# -- what a person sees -------------------------------------------------------------------


REQUEST = CloseRequest(reference="R-1", country="EG")


def outcome(error: OPayError | None) -> CloseOutcome:
    if error is None:
        paid = Payment(
            reference="R-1",
            order_no="211",
            country="EG",
            amount=None,
            order_status=OrderStatus.CLOSE,
        )
        return CloseOutcome(request=REQUEST, payment=paid, error=None, attempts=1)
    return CloseOutcome(request=REQUEST, payment=None, error=error, attempts=0)


def frames(console: Console) -> list[str]:
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())  # type: ignore[attr-defined]
    return drawn.split("\r")


def test_the_resume_bar_counts_rows_closed_earlier_as_closed() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=140)
    with Tally(console, total=10) as tally:
        for _ in range(6):
            tally.skip()  # closed in an earlier run
        tally.skip(final=True)  # failed for good in an earlier run
        tally.add(outcome(None))
        tally.add(outcome(AuthenticationError("02000", "authentication failed.")))
    last = frames(console)[-1]
    assert "9/10" in last
    assert re.search(r"(?<!not )closed 7 ", last)  # 6 earlier and 1 now (it showed 1)
    assert "not closed 2" in last  # the row failed for good earlier, and this run's failure


def test_the_summary_counts_rows_not_sent_apart() -> None:
    console = Console(file=io.StringIO(), width=120)
    tally = Tally(console, total=None, bar=False)
    refused = AuthenticationError("02000", "authentication failed.")
    tally.add(outcome(refused))
    for _ in range(3):
        tally.add(outcome(RunStoppedError(refused)))
    assert (tally.failed, tally.not_sent, tally.done) == (1, 3, 4)
    console.print(tally.summary())
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert re.search(r"not sent: the run stopped\s*│\s*3", shown), shown
    assert "RunStoppedError" not in shown  # not listed as a failure's code
    assert not tally.all_closed


@pytest.mark.parametrize(
    ("token", "error_type", "said"),
    [
        ("02000", "AuthenticationError", "AuthenticationError [02000]"),
        ("02007", "MerchantNotAvailableError", "MerchantNotAvailableError [02007]"),
        ("http401", "OPayHTTPError", "OPayHTTPError (HTTP 401)"),
    ],
)
@pytest.mark.parametrize("keep_going", [False, True])
def test_a_stopped_run_in_the_simulator_says_so(
    tmp_path: Path, keep_going: bool, token: str, error_type: str, said: str
) -> None:
    """A row scripted to get a fatal answer (``[sim:02000]``) stops a --simulate run too."""
    stale = tmp_path / "stale.csv"
    stale.write_text(
        "reference,country\n"
        + "".join(f"S-{n},EG\n" for n in range(5))
        + f"S-DEAD[sim:{token}],EG\n"
        + "".join(f"T-{n},EG\n" for n in range(30))
    )
    output = tmp_path / "out.jsonl"
    extra = ["--keep-going"] if keep_going else []
    ran = run(
        "close-many",
        str(stale),
        "--simulate",
        "--concurrency",
        "1",
        "--attempts",
        "1",
        "--output",
        str(output),
        *extra,
    )
    records = read_jsonl(output)
    assert len(records) == 36
    kinds = Counter(r["error_type"] for r in records)
    if keep_going:
        assert kinds["RunStoppedError"] == 0
        assert ran.returncode == 1
    else:
        assert ran.returncode == EXIT_STOPPED, ran.stderr
        assert kinds["RunStoppedError"] == 30
        assert ran.stderr.splitlines()[-1].startswith(f"stopped: row 6 was answered {said} (")
    assert records[5]["error_type"] == error_type
