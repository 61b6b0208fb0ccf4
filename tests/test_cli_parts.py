"""The command's parts in process: reading rows, the thread feed, results, text, the tally."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from opay_async import (
    Amount,
    CloseOutcome,
    CloseRequest,
    OPayAPIError,
    OPayConnectionError,
    OPayHTTPError,
    OrderStatus,
    Payment,
    PaymentAlreadyPaidError,
    PaymentNotClosedError,
    PaymentNotFoundError,
    _install,
)
from opay_async._cli._config import build_client, read_secret_key_file
from opay_async._cli._exit import UsageError
from opay_async._cli._feed import ThreadFeed
from opay_async._cli._feed import _hand as hand
from opay_async._cli._input import MAX_LINE_BYTES, InputError, open_source, rows_of
from opay_async._cli._output import ResultsFile, outcome_record
from opay_async._cli._parser import build_parser, positive_number, whole_number
from opay_async._cli._report import Tally
from opay_async._cli._resume import Skip, read_earlier
from opay_async._cli._text import json_line, printable
from opay_async._install import _requirement as install_requirement
from opay_async._install import install_hint

REQUEST = CloseRequest(reference="R-1", country="EG")
install_metadata, install_shutil, install_sys = _install.metadata, _install.shutil, _install.sys


def payment(status: OrderStatus) -> Payment:
    return Payment(reference="R-1", order_no="211", country="EG", amount=None, order_status=status)


def closed() -> CloseOutcome:
    return CloseOutcome(request=REQUEST, payment=payment(OrderStatus.CLOSE), error=None, attempts=2)


def failed(error: Exception) -> CloseOutcome:
    return CloseOutcome(request=REQUEST, payment=None, error=error, attempts=1)  # type: ignore[arg-type]


def rows(data: bytes, *, country: bool = False) -> list[tuple[int, dict[str, str]]]:
    return list(rows_of([data], name="in.csv", country=country))


# -- reading rows ------------------------------------------------------------------------


def test_csv_with_any_header_spelling_short_rows_and_blank_lines() -> None:
    text = b"\n\nReference , ORDERNO,country,note\nA1,,EG,x\n\n,211,NG\nA3\n,,\n"
    assert rows(text) == [
        (1, {"reference": "A1", "order_no": "", "country": "EG"}),
        (2, {"reference": "", "order_no": "211", "country": "NG"}),
        (3, {"reference": "A3", "order_no": "", "country": ""}),
    ]


def test_plain_lists_and_empty_input() -> None:
    assert rows(b" A1 \r\n\nA2", country=True) == [
        (1, {"reference": "A1"}),
        (2, {"reference": "A2"}),
    ]
    assert rows(b"") == []
    assert rows(b"\n\r\n\n") == []


def test_a_bom_is_dropped_and_quoted_fields_may_span_lines() -> None:
    data = '\ufeffreference,country\n"A 1",EG\n'.encode()
    assert rows(data) == [(1, {"reference": "A 1", "country": "EG"})]
    with pytest.raises(InputError, match="line 2: an unprintable character"):
        rows(b'reference,country\n"A\n1",EG\n')


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_rows_do_not_depend_on_how_the_bytes_arrive(cuts: list[int]) -> None:
    data = (
        "\ufeffreference,orderNo,country\r\nSHOP-é1,,EG\r\n\r\n,211,NG\r\nSHOP-3,,eg\r\n".encode()
    )
    parts, start = [], 0
    for cut in cuts:
        parts.append(data[start : start + cut])
        start += cut
    parts.append(data[start:])
    assert list(rows_of(parts, name="x", country=False)) == rows(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"reference,reference\nA,B\n",
            "in.csv line 1: the header names the reference column twice",
        ),
        (b"orderNo,order_no,country\n", "(orderNo and order_no are the same column)"),
        (b"country\nEG\n", "neither reference nor orderNo"),
        (b"reference\nA1\n", "no country column: pass --country"),
        (b"A1\n", "a list of references"),
        (b"reference,country\nA\xe9,EG\n", "line 2: not UTF-8 text (byte 0xe9 at byte 2"),
        (b"reference,country\nA\x00,EG\n", "line 2: a NUL byte"),
        (b"\xff\xfer\x00e\x00f\x00", "UTF-16"),
        (b"reference,country\nA\x1b[2J,EG\n", r"an unprintable character (U+001B) in 'A\x1b[2J'"),
        (b"reference,country\nA\xc2\xa0B,EG\n", "(U+00A0)"),
        (b'reference,country\n"A1"x,EG\n', "line 2: not valid CSV (',' expected after '\"')"),
        (b'reference,country\nA1,EG\n"A2,EG\n', "line 3: not valid CSV (unexpected end of data)"),
        (b'reference,country\n"A,EG\n' + (b"x" * 60_000 + b"\n") * 3, "line 2: a field longer"),
    ],
)
def test_inputs_refused_with_the_line(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as refused:
        rows(data)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_line_too_long_is_refused_before_it_is_read_whole() -> None:
    pulled = 0

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"A" * 4096

    with pytest.raises(InputError, match=f"line 1 is longer than {MAX_LINE_BYTES} bytes"):
        list(rows_of(endless(), name="in", country=True))
    assert pulled * 4096 <= 2 * MAX_LINE_BYTES
    with pytest.raises(InputError, match="line 2 is longer"):
        rows(b"A1\n" + b"B" * MAX_LINE_BYTES + b"\n", country=True)
    assert rows(b"A" * (MAX_LINE_BYTES - 1) + b"\n", country=True)[0][0] == 1


def test_open_source(tmp_path: Path) -> None:
    assert open_source("-").path is None
    path = tmp_path / "f.csv"
    path.write_text("A1\n")
    assert open_source(str(path)).regular
    with pytest.raises(UsageError, match="it is a directory"):
        open_source(str(tmp_path))
    with pytest.raises(UsageError, match="No such file"):
        open_source(str(tmp_path / "none\x1b.csv"))


# -- the thread feed -----------------------------------------------------------------------


async def test_the_feed_hands_items_over_and_raises_the_producers_error() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise InputError("line 3: bad")

    seen: list[int] = []

    async def take_all() -> None:
        async for item in ThreadFeed(produce()).items():
            seen.append(item)

    with pytest.raises(InputError, match="line 3"):
        await take_all()
    assert seen == [1, 2]


async def test_the_feed_holds_the_thread_back_at_the_window() -> None:
    made = 0

    def produce() -> Iterator[int]:
        nonlocal made
        for n in range(1000):
            made += 1
            yield n

    feed = ThreadFeed(produce(), window=8)
    items = feed.items()
    assert await anext(items) == 0
    await asyncio.sleep(0.2)
    assert made <= 8 + 2  # the window, the one taken, the one waiting for room
    await items.aclose()  # tells the thread to stop


async def test_an_item_is_handed_over_at_once_while_the_producer_waits() -> None:
    more = threading.Event()

    def produce() -> Iterator[str]:
        yield "first"
        more.wait(10)  # a producer still writing
        yield "second"

    items = ThreadFeed(produce()).items()
    started = time.monotonic()
    assert await anext(items) == "first"
    assert time.monotonic() - started < 1
    more.set()
    assert await anext(items) == "second"
    await items.aclose()


def test_nothing_is_handed_to_a_closed_loop() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    assert not hand(loop, print, "late")


def test_a_closed_loop_ends_the_thread_quietly() -> None:
    crashed: list[object] = []
    threading.excepthook, previous = crashed.append, threading.excepthook
    go, gone = threading.Event(), threading.Event()

    def produce() -> Iterator[int]:
        yield 0
        go.wait(10)
        try:
            yield 1  # handed to a loop that is closed by now
        finally:
            gone.set()

    async def take_one() -> int:
        items = ThreadFeed(produce()).items()
        return await anext(items)  # left suspended: the loop closes under the thread

    try:
        assert asyncio.run(take_one()) == 0
        go.set()
        assert gone.wait(10)
        time.sleep(0.1)
    finally:
        threading.excepthook = previous
    assert crashed == []


# -- the results file ----------------------------------------------------------------------


def test_records_name_the_error() -> None:
    ok = outcome_record(closed(), row=7)
    assert ok == {
        "row": 7,
        "reference": "R-1",
        "order_no": "211",  # from OPay's answer
        "country": "EG",
        "ok": True,
        "order_status": "CLOSE",
        "amount_minor": None,  # OPay sent no amount
        "amount_major": None,
        "currency": None,
        "error_type": None,
        "error_code": None,
        "error": None,
        "retryable": None,
        "attempts": 2,
        "supersedes": None,
    }
    not_found = outcome_record(failed(PaymentNotFoundError("02006", "payment not found.")), 1)
    assert (not_found["error_code"], not_found["error"]) == ("02006", "payment not found.")
    assert outcome_record(failed(OPayHTTPError(502, "bad gateway")), 1)["error_code"] == "HTTP 502"
    broken = outcome_record(failed(OPayConnectionError("refused")), 1)
    assert (broken["error_type"], broken["error_code"], broken["retryable"]) == (
        "OPayConnectionError",
        None,
        True,
    )
    paid = outcome_record(failed(PaymentAlreadyPaidError(payment(OrderStatus.SUCCESS))), 3)
    assert (paid["ok"], paid["order_status"], paid["error_type"]) == (
        False,
        "SUCCESS",
        "PaymentAlreadyPaidError",
    )


def test_an_earlier_file_counts_only_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with path.open("wb") as stream:
        for record in (
            {"reference": "A1", "order_no": "1", "order_status": "CLOSE"},
            {"row": 2, "reference": "A2", "order_no": None, "order_status": None},
            {"reference": None, "order_no": "3", "order_status": "CLOSE"},
        ):
            stream.write(json_line(record))
        stream.write(b"[1, 2]\n")
        stream.write(b'{"reference": "' + b"L" * (2 << 20) + b'"}\n')  # too long to be ours
        end = stream.tell()
        stream.write(b'{"row":9,"reference": "A5", "order_status": "CLOSE"}')  # torn
    seen = read_earlier(str(path))
    assert (seen.references, seen.order_numbers) == ({"A1"}, {"1", "3"})
    assert (seen.records, seen.lines, seen.end) == (3, 5, end)
    assert seen.tail == b'{"row":'
    assert seen.decide(1, {"reference": "A1"}, None) == (Skip.CLOSED, None)
    assert seen.decide(9, {"reference": "A5"}, "EG") == (None, None)  # torn: done again
    assert seen.decide(3, {"reference": "", "order_no": "3"}, None) == (Skip.CLOSED, None)
    assert seen.decide(2, {"reference": "A2"}, None) == (None, 2)  # retried, supersedes 2
    assert seen.decide(2, {"reference": "A2"}, None) == (None, None)  # replaced already
    assert seen.decide(6, {"reference": "A2"}, None) == (None, None)  # another row's record
    assert seen.decide(4, {"reference": "", "order_no": ""}, "EG") == (None, None)
    assert seen.decide(5, {"reference": "", "order_no": "77"}, "EG") == (None, None)


def test_a_long_torn_tail_is_found_too(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(
        b'{"row":1,"reference":"A1","order_status":"CLOSE"}\n{"row":2,' + b"x" * (3 << 20)
    )
    seen = read_earlier(str(path))
    assert (seen.records, seen.lines, seen.tail) == (1, 1, b'{"row":')


def test_results_file_resume_drops_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"row":1,"reference":"A1","order_status":"CLOSE"}\n{"row":2,"ref')
    results = ResultsFile.open(str(path), resume=True, force=False, input_path=None)
    try:
        assert results.earlier.references == {"A1"}
        assert results.dropped_tail
        results.write({"row": 2, "reference": "A2"})
    finally:
        results.close()
    assert path.read_bytes().split(b"\n")[1:] == [b'{"row":2,"reference":"A2"}', b""]


def test_resume_keeps_a_tail_that_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    kept = b'{"row":1,"reference":"A1","order_status":"CLOSE"}\nnotes without a newline'
    path.write_bytes(kept)
    with pytest.raises(UsageError, match="ends with a partial line that is not a record"):
        ResultsFile.open(str(path), resume=True, force=False, input_path=None)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"call the bank")  # one line, no newline: a file of the user's
    with pytest.raises(UsageError, match="not a results file"):
        ResultsFile.open(str(notes), resume=True, force=False, input_path=None)
    assert path.read_bytes() == kept
    assert notes.read_bytes() == b"call the bank"


def test_results_file_refusals(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("")
    with pytest.raises(UsageError, match="exists: pass --resume"):
        ResultsFile.open(str(path), resume=False, force=False, input_path=None)
    with pytest.raises(UsageError, match="--resume needs --output FILE"):
        ResultsFile.open("-", resume=True, force=False, input_path=None)
    with pytest.raises(UsageError, match="is a directory"):
        ResultsFile.open(str(tmp_path), resume=False, force=True, input_path=None)
    with pytest.raises(UsageError, match="is the input file"):
        ResultsFile.open(str(path), resume=False, force=True, input_path=str(path))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_failed_write_is_a_usage_error() -> None:
    results = ResultsFile.open("/dev/full", resume=False, force=False, input_path=None)
    try:
        with pytest.raises(UsageError, match="cannot write to /dev/full: No space left"):
            results.write({"row": 1})
    finally:
        results.close()


# -- text ------------------------------------------------------------------------------------


@given(st.dictionaries(st.sampled_from(["reference", "error", "code"]), st.text()))
def test_json_lines_are_one_printable_line_that_reads_back(record: dict[str, str]) -> None:
    line = json_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    text = line.decode()
    assert text[:-1].isprintable()
    assert len(text.splitlines()) == 1
    assert json.loads(text) == record


@given(st.text())
def test_printable_text_is_printable(text: str) -> None:
    shown = printable(text, limit=50)
    assert shown.isprintable()
    assert len(shown) <= 50


# -- the tally -------------------------------------------------------------------------------


def test_tally_counts_and_summarises() -> None:
    console = Console(file=io.StringIO(), width=100)
    with Tally(console, total=5) as tally:
        tally.add(closed())
        tally.add(failed(PaymentNotClosedError(payment(OrderStatus.FAIL))))
        tally.add(failed(PaymentAlreadyPaidError(payment(OrderStatus.SUCCESS))))
        tally.add(failed(PaymentNotFoundError("02006", "payment not found.")))
        tally.add(failed(OPayConnectionError("refused")))
    tally.skipped = 3
    assert (tally.done, tally.closed, tally.paid, tally.failed, tally.retries) == (5, 1, 1, 2, 1)
    assert not tally.all_closed
    console.print(tally.summary(interrupted=True))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for text in (
        "interrupted",
        "5 of 5",
        "paid meanwhile: refund, do not cancel",
        "answered FAIL",
        "02006",
        "OPayConnectionError",
        "skipped",
    ):
        assert text in shown
    assert tally.plain_words("out.jsonl") == [
        '4 rows were not closed: their records in out.jsonl have "ok":false, with the '
        'error and whether a later run may close them ("retryable").',
        "1 payment was paid meanwhile: refund it; do not mark its order cancelled.",
    ]


def test_the_summary_shows_hostile_codes_escaped_and_not_as_markup() -> None:
    console = Console(file=io.StringIO(), width=120, force_terminal=True)
    tally = Tally(console, total=None, bar=False)
    tally.add(failed(OPayAPIError("\x1b]0;pwned\x07[bold red]X", "m")))
    for n in range(30):
        tally.add(failed(OPayAPIError(f"{n:05d}", "m")))
    console.print(tally.summary())
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\\x1b]0;pwned\\x07[bold red]X" in shown
    assert "\x07" not in shown
    assert "other" in shown  # 31 codes: the most common listed, the rest summed


def test_the_bar_is_drawn_only_when_asked_and_ends_on_the_final_counts() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with Tally(console, total=None) as tally:
        tally.skip()
        tally.add(closed())
        tally.add(failed(OPayConnectionError("refused")))
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())  # type: ignore[attr-defined]
    frames = drawn.split("\r")
    assert "3/3" in frames[-1]
    assert re.search(r"(?<!not )closed 2 ", frames[-1])  # the row --resume found closed too
    assert "not closed 1" in frames[-1]
    quiet = Console(file=io.StringIO(), force_terminal=True, width=120)
    with Tally(quiet, total=2, bar=False) as tally:
        tally.add(closed())
    assert quiet.file.getvalue() == ""  # type: ignore[attr-defined]


# -- settings --------------------------------------------------------------------------------


def test_number_options() -> None:
    assert whole_number(1, 10)(" 7 ") == 7
    assert positive_number(10)("1e-3") == 0.001
    for bad in ("0", "11", "x", "1.0", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            whole_number(1, 10)(bad)
    for bad in ("0", "-1", "nan", "inf", "1e999", "11", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_number(10)(bad)


def test_parser_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["close-many", "f", "--concurrency", "0\x1b[2J"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "\x1b" not in err
    assert "argument --concurrency: must be a whole number from 1 to 1000" in err


def test_read_secret_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"OPAYPRV_parts_key_1\r\n")
    key = read_secret_key_file(str(key_file))
    assert key.reveal() == "OPAYPRV_parts_key_1"
    key_file.write_bytes(b"OPAYPRV_parts_key_1\xff")
    with pytest.raises(UsageError, match="not UTF-8 text") as refused:
        read_secret_key_file(str(key_file))
    assert "parts_key" not in str(refused.value)
    assert refused.value.__suppress_context__


def test_the_summary_speaks_of_one_row_in_the_singular() -> None:
    console = Console(file=io.StringIO(), width=100)
    tally = Tally(console, total=3, bar=False)
    tally.add(closed())
    tally.add(failed(PaymentNotFoundError("02006", "payment not found.")))
    tally.skip(final=True)
    assert tally.plain_words("out.jsonl") == [
        '1 row was not closed: its record in out.jsonl has "ok":false, with the error and '
        'whether a later run may close it ("retryable").',
        "1 row was not sent again: its record in out.jsonl from an earlier run says why it "
        "cannot be closed (not valid, not found, paid or failed); a row fixed in the input "
        "is sent again.",
    ]
    assert not tally.all_closed  # a row an earlier run could not close is not closed
    tally.skip(final=True)
    words = tally.plain_words("out.jsonl")
    assert words[1].startswith("2 rows were not sent again: their records in out.jsonl ")
    assert " say why they cannot be closed" in words[1]
    console.print(tally.summary())
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "skipped: failed for good in an earlier run" in shown
    assert "skipped: closed in an earlier run" not in shown


def test_the_summary_shows_amounts_in_major_units() -> None:
    def paid_for(amount: Amount | None, status: OrderStatus) -> Payment:
        return Payment(
            reference="R-1", order_no="211", country="EG", amount=amount, order_status=status
        )

    console = Console(file=io.StringIO(), width=100)
    tally = Tally(console, total=None, bar=False)
    for total, currency in ((78244, "EGP"), (100000, "EGP"), (1500, "XOF"), (7, "XYZ")):
        payment_ = paid_for(Amount(total, currency), OrderStatus.CLOSE)
        tally.add(CloseOutcome(request=REQUEST, payment=payment_, error=None, attempts=1))
    tally.add(closed())  # no amount: counted, nothing to add
    tally.add(failed(PaymentAlreadyPaidError(paid_for(Amount(5, "KWD"), OrderStatus.SUCCESS))))
    console.print(tally.summary())
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for text in ("EGP 1,782.44", "XOF 1,500", "7 XYZ (minor units)", "KWD 0.005"):
        assert text in shown, shown
    assert "178244" not in shown


def test_the_bar_leaves_room_for_the_terminals_echo() -> None:
    for width in (40, 80, 100, 200):
        console = Console(file=io.StringIO(), force_terminal=True, width=width)
        with Tally(console, total=300) as tally:
            for _ in range(7):
                tally.add(closed())
        drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())  # type: ignore[attr-defined]
        frames = [frame for frame in re.split(r"[\r\n]+", drawn) if frame.startswith("clos")]
        assert frames
        assert max(len(frame) for frame in frames) <= width - 2, width


@pytest.mark.parametrize(
    ("origin", "requirement"),
    [
        (None, "'opay-async[simulator]'"),  # from an index
        (
            {"url": "file:///src/opay%20async", "dir_info": {"editable": True}},
            "-e '/src/opay async[simulator]'",
        ),
        (
            {
                "url": "https://github.com/o/opay-async.git",
                "vcs_info": {"vcs": "git", "commit_id": "ab12"},
            },
            "'opay-async[simulator] @ git+https://github.com/o/opay-async.git@ab12'",
        ),
        (
            {"url": "https://files.example/opay_async-0.1.0.tar.gz", "archive_info": {}},
            "'opay-async[simulator] @ https://files.example/opay_async-0.1.0.tar.gz'",
        ),
        (
            {"url": "file:///gone/opay_async-0.1.0.whl", "archive_info": {}},
            "'opay-async[simulator]'",
        ),
        ({"dir_info": {}}, "'opay-async[simulator]'"),  # no url: not PEP 610
    ],
)
def test_install_hints_install_from_where_the_package_came(
    origin: dict[str, object] | None, requirement: str
) -> None:
    assert install_requirement("simulator", origin) == requirement


def test_an_install_hint_for_a_checkout_that_is_not_editable(tmp_path: Path) -> None:
    origin = {"url": tmp_path.as_uri(), "dir_info": {}}
    assert install_requirement("cli", origin) == f"'{tmp_path}[cli]'"


class _Distribution:
    def __init__(self, text: str | None) -> None:
        self.text = text

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return self.text


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (None, "'opay-async[cli]'"),  # no direct_url.json: from an index
        ("", "'opay-async[cli]'"),
        ("{not json", "'opay-async[cli]'"),
        ("[1]", "'opay-async[cli]'"),
        ('{"url": "file:///co", "dir_info": {"editable": true}}', "-e '/co[cli]'"),
    ],
)
def test_install_hints_read_pips_record_of_the_origin(
    monkeypatch: pytest.MonkeyPatch, text: str | None, hint: str
) -> None:
    monkeypatch.setattr(install_metadata, "distribution", lambda _name: _Distribution(text))
    monkeypatch.setattr(install_shutil, "which", lambda _name: install_sys.executable)
    assert install_hint("cli") == f"python -m pip install {hint}"  # `python` is this one


def test_install_hints_name_this_interpreter_when_python_is_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(_name: str) -> None:
        raise install_metadata.PackageNotFoundError(_name)

    monkeypatch.setattr(install_metadata, "distribution", missing)
    monkeypatch.setattr(install_shutil, "which", lambda _name: None)
    monkeypatch.setattr(install_sys, "executable", "/opt/my env/bin/python3")
    assert install_hint("cli") == "'/opt/my env/bin/python3' -m pip install 'opay-async[cli]'"


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            [],
            "closes are posted to "
            "https://sandboxapi.opaycheckout.com/api/v1/international/payment/close for EG, "
            "to https://testapi.opaycheckout.com/api/v1/international/payment/close for "
            "other countries",
        ),
        (
            ["--base-url", "http://127.0.0.1:9"],
            "closes are posted to http://127.0.0.1:9/api/v1/international/payment/close",
        ),
    ],
)
async def test_verbose_says_where_closes_are_posted(
    flags: list[str], said: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """-v shows the SDK's lines only: the command names the hosts (httpx2's lines did)."""
    monkeypatch.setenv("OPAY_MERCHANT_ID", "256612345678901")
    monkeypatch.setenv("OPAY_SECRET_KEY", "OPAYPRV_parts_secret")
    monkeypatch.delenv("OPAY_BASE_URL", raising=False)
    monkeypatch.delenv("OPAY_ENVIRONMENT", raising=False)
    args = build_parser().parse_args(["close", "--reference", "R", "--country", "EG", *flags])
    with caplog.at_level("INFO", logger="opay_async.cli"):
        async with build_client(args):  # nothing is sent
            pass
    assert [record.getMessage() for record in caplog.records] == [said]
