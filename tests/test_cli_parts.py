"""The command's parts in process: reading rows, writing results, the tally."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from opay_async import (
    CloseOutcome,
    CloseRequest,
    OPayConnectionError,
    OPayHTTPError,
    OrderStatus,
    Payment,
    PaymentNotFoundError,
)
from opay_async._cli._input import count_rows, read_rows
from opay_async._cli._output import already_closed, outcome_record, write_record
from opay_async._cli._report import Tally

REQUEST = CloseRequest(reference="R-1", country="EG")


def closed(status: OrderStatus = OrderStatus.CLOSE) -> CloseOutcome:
    payment = Payment(
        reference="R-1", order_no="211", country="EG", amount=None, order_status=status
    )
    return CloseOutcome(request=REQUEST, payment=payment, error=None, attempts=2)


def failed(error: Exception) -> CloseOutcome:
    return CloseOutcome(request=REQUEST, payment=None, error=error, attempts=1)  # type: ignore[arg-type]


def test_csv_with_any_header_spelling_short_rows_and_blank_lines() -> None:
    text = "\n\nReference , ORDERNO,country\nA1,,EG\n\n,211,NG\nA3\n"
    assert list(read_rows(io.StringIO(text))) == [
        {"reference": "A1", "order_no": "", "country": "EG"},
        {"reference": "", "order_no": "211", "country": "NG"},
        {"reference": "A3", "order_no": "", "country": ""},
    ]


def test_plain_lists_and_empty_input() -> None:
    assert list(read_rows(io.StringIO(" A1 \n\nA2"))) == [{"reference": "A1"}, {"reference": "A2"}]
    assert list(read_rows(io.StringIO(""))) == []
    assert list(read_rows(io.StringIO("\n\n"))) == []


def test_count_rows_reads_files_but_not_stdin(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("\ufeffreference\nA1\nA2\n", encoding="utf-8")
    assert count_rows(str(path)) == 2
    assert count_rows("-") is None


def test_records_name_the_error() -> None:
    ok = outcome_record(closed(), row=7)
    assert ok == {
        "row": 7,
        "reference": "R-1",
        "order_no": "211",  # from OPay's answer
        "country": "EG",
        "ok": True,
        "order_status": "CLOSE",
        "error_code": None,
        "error": None,
        "attempts": 2,
    }
    not_found = outcome_record(failed(PaymentNotFoundError("02006", "payment not found.")), 1)
    assert (not_found["error_code"], not_found["error"]) == ("02006", "payment not found.")
    assert outcome_record(failed(OPayHTTPError(502, "bad gateway")), 1)["error_code"] == "HTTP 502"
    broken = outcome_record(failed(OPayConnectionError("refused")), 1)
    assert broken["error_code"] == "OPayConnectionError"


def test_already_closed_skips_what_is_not_a_closed_record(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with path.open("w") as stream:
        write_record(stream, {"reference": "A1", "order_no": "1", "order_status": "CLOSE"})
        write_record(stream, {"reference": "A2", "order_no": None, "order_status": None})
        write_record(stream, {"reference": None, "order_no": "3", "order_status": "CLOSE"})
        stream.write("[1, 2]\n")
        stream.write('{"reference": "A4", "order_st')  # a run killed mid-line
    assert already_closed(str(path)) == ({"A1"}, {"1", "3"})
    assert json.loads(path.read_text().splitlines()[0])["reference"] == "A1"


def test_tally_counts_and_summarises() -> None:
    console = Console(file=io.StringIO(), width=100)
    with Tally(console, total=4) as tally:
        tally.add(closed())
        tally.add(closed(OrderStatus.FAIL))
        tally.add(failed(PaymentNotFoundError("02006", "payment not found.")))
        tally.add(failed(OPayConnectionError("refused")))
    tally.skipped = 3
    assert (tally.done, tally.closed, tally.failed, tally.retries) == (4, 1, 2, 2)
    assert not tally.all_closed
    console.print(tally.summary(interrupted=True))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for text in (
        "interrupted",
        "4 of 4",
        "answered FAIL",
        "02006",
        "OPayConnectionError",
        "skipped",
    ):
        assert text in shown


def test_tally_draws_a_progress_bar_on_a_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with Tally(console, total=1) as tally:
        tally.add(closed())
    assert "closed" in console.file.getvalue()  # type: ignore[attr-defined]
    assert tally.all_closed
