"""The results file in process: what each record holds, how the file is opened and closed.

Each test reads back what a reader of the file (or of standard output) sees, byte for
byte, and what the one-line errors say in full: the mutants mutmut made of
``opay_async/_cli/_output.py`` that the end-to-end tests let through.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opay_async import (
    CloseOutcome,
    CloseRequest,
    OPayConnectionError,
    OPayValidationError,
    OrderStatus,
    Payment,
)
from opay_async._cli import _output as output_module
from opay_async._cli._exit import UsageError
from opay_async._cli._output import ResultsFile, outcome_record
from opay_async._cli._resume import Earlier

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/fd, uses memfd seals"
)


def open_descriptors() -> int:
    """How many descriptors this process has open (the listing's own one included)."""
    return len(os.listdir("/proc/self/fd"))


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError as error:
        if error.errno != errno.EBADF:
            raise
        return False
    return True


def refused(reason: str) -> CloseOutcome:
    """A row refused before anything was sent: the error names no identifier."""
    error = OPayValidationError("country", reason)
    return CloseOutcome(request=None, payment=None, error=error, attempts=0)


def closed_as(order_no: str) -> CloseOutcome:
    request = CloseRequest(reference="R-1", country="EG")
    payment = Payment(
        reference="R-1",
        order_no=order_no,
        country="EG",
        amount=None,
        order_status=OrderStatus.CLOSE,
    )
    return CloseOutcome(request=request, payment=payment, error=None, attempts=1, index=9)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[ResultsFile]:
    results = ResultsFile.open(
        str(tmp_path / "out.jsonl"), resume=False, force=False, input_path=None
    )
    try:
        yield results
    finally:
        results.close()


# -- the record ----------------------------------------------------------------------------


def test_a_refused_row_keeps_what_it_said_and_names_the_line_it_supersedes() -> None:
    said = {"reference": "SHOP-7", "order_no": "0042", "country": "eg", "note": "x"}
    record = outcome_record(refused("the row names none"), 3, said=said, supersedes=5)
    assert record == {
        "row": 3,
        "reference": "SHOP-7",  # as the row wrote them, not as the error knew them
        "order_no": "0042",
        "country": "eg",
        "ok": False,
        "order_status": None,
        "amount_minor": None,
        "amount_major": None,
        "currency": None,
        "error_type": "OPayValidationError",
        "error_code": None,
        "error": "country: the row names none",
        "retryable": False,
        "attempts": 0,
        "supersedes": 5,
    }
    assert next(iter(record)) == "row"  # what --resume knows a record of ours by
    blank = outcome_record(refused("x"), 4, said={"reference": "", "country": "EG"})
    assert (blank["reference"], blank["order_no"], blank["country"]) == (None, None, "EG")


def test_a_refused_row_without_what_it_said_keeps_what_the_error_knew() -> None:
    error = OPayValidationError("country", "bad", reference="A-1", order_no="77")
    outcome = CloseOutcome(request=None, payment=None, error=error, attempts=0)
    record = outcome_record(outcome, 1)
    assert (record["reference"], record["order_no"], record["country"]) == ("A-1", "77", None)
    assert record["supersedes"] is None


def test_what_a_sent_row_said_never_hides_what_opay_answered() -> None:
    said = {"reference": "R-1", "order_no": "", "country": "EG"}
    record = outcome_record(closed_as("211"), 2, said=said, supersedes=None)
    assert (record["row"], record["order_no"], record["ok"]) == (2, "211", True)
    assert "index" not in record  # the bulk run's index means nothing to the reader
    failed = CloseOutcome(
        request=CloseRequest(reference="R-2", country="EG"),
        payment=None,
        error=OPayConnectionError("refused"),
        attempts=3,
    )
    said = {"reference": "R-2", "order_no": "9", "country": "NG"}
    record = outcome_record(failed, 8, said=said, supersedes=2)
    assert (record["reference"], record["order_no"], record["country"]) == ("R-2", None, "EG")
    assert record["supersedes"] == 2


# -- standard output -------------------------------------------------------------------------


def test_standard_output_gets_the_records_and_stays_open(capfd: pytest.CaptureFixture[str]) -> None:
    results = ResultsFile.open("-", resume=False, force=False, input_path=None)
    assert (results.name, results.owned, results.is_terminal) == ("standard output", False, False)
    assert (results.written, results.dropped_tail) == (0, False)
    assert results.earlier == Earlier()
    results.write({"row": 1, "ok": True})
    results.write({"row": 2, "ok": False})
    results.close()
    assert is_open(1)
    assert results.written == 2
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ('{"row":1,"ok":true}\n{"row":2,"ok":false}\n', "")


def test_resume_needs_a_file() -> None:
    with pytest.raises(UsageError) as refusal:
        ResultsFile.open("-", resume=True, force=False, input_path=None)
    assert str(refusal.value) == "--resume needs --output FILE"


def test_a_reader_that_went_away_is_named() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    results = ResultsFile(write_end, "standard output", Earlier(), owned=False)
    try:
        with pytest.raises(UsageError) as failure:
            results.write({"row": 1})
        assert str(failure.value) == (
            "cannot write to standard output: the reader closed it (broken pipe)"
        )
        assert results.written == 0
        results.close()
        assert is_open(write_end)  # not the run's to close
    finally:
        os.close(write_end)


def test_a_failure_without_an_os_message_is_named_by_its_text(
    monkeypatch: pytest.MonkeyPatch, fresh: ResultsFile
) -> None:
    class Failing:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        def write(self, fd: int, data: object) -> int:
            raise OSError("the device went away")

    monkeypatch.setattr(output_module, "os", Failing())
    with pytest.raises(UsageError) as failure:
        fresh.write({"row": 1})
    assert str(failure.value) == f"cannot write to {fresh.name}: the device went away"


def test_a_terminal_is_known() -> None:
    controller, terminal = os.openpty()
    try:
        results = ResultsFile(terminal, "the terminal", Earlier(), owned=True)
        assert results.is_terminal is True
        results.close()
        assert not is_open(terminal)
    finally:
        os.close(controller)


# -- a file ------------------------------------------------------------------------------------


def test_a_new_file_gets_whole_lines_and_the_usual_permissions(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    previous = os.umask(0o022)
    try:
        results = ResultsFile.open(str(path), resume=False, force=False, input_path=None)
    finally:
        os.umask(previous)
    try:
        assert (results.name, results.owned, results.is_terminal) == (str(path), True, False)
        assert (results.written, results.dropped_tail, results.earlier) == (0, False, Earlier())
        for row in (1, 2, 3):
            results.write({"row": row})
        assert results.written == 3
    finally:
        results.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # 0o666 less the umask, as `>` makes
    assert path.read_bytes() == b'{"row":1}\n{"row":2}\n{"row":3}\n'


@linux_only
def test_closing_closes_the_file_once(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    before = open_descriptors()
    results = ResultsFile.open(
        str(tmp_path / "out.jsonl"), resume=False, force=False, input_path=None
    )
    assert open_descriptors() == before + 1
    results.close()
    assert open_descriptors() == before
    with pytest.raises(UsageError) as failure:
        results.write({"row": 1})
    assert str(failure.value) == f"cannot write to {results.name}: Bad file descriptor"
    results.close()  # again: nothing happens
    assert is_open(1)
    assert capfd.readouterr() == ("", "")


def test_a_file_given_descriptor_0_is_closed_too(tmp_path: Path) -> None:
    """Run with standard input closed (``<&-``), the results file gets descriptor 0."""
    path = tmp_path / "out.jsonl"
    saved = os.dup(0)
    try:
        os.close(0)
        results = ResultsFile.open(str(path), resume=False, force=False, input_path=None)
        assert os.fstat(0).st_ino == path.stat().st_ino
        results.close()
        assert not is_open(0)
    finally:
        os.dup2(saved, 0)
        os.close(saved)


def test_force_starts_the_file_afresh(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"row":1,"reference":"A1","order_status":"CLOSE"}\n')
    results = ResultsFile.open(str(path), resume=False, force=True, input_path=None)
    try:
        assert results.earlier == Earlier()  # nothing read: it is overwritten
        results.write({"row": 1, "reference": "B1"})
    finally:
        results.close()
    assert path.read_bytes() == b'{"row":1,"reference":"B1"}\n'


def test_resume_appends(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"row":1,"reference":"A1","order_status":"CLOSE"}\n')
    results = ResultsFile.open(str(path), resume=True, force=False, input_path=None)
    try:
        assert (results.earlier.records, results.earlier.references) == (1, {"A1"})
        assert (results.written, results.dropped_tail) == (0, False)
        results.write({"row": 2})
    finally:
        results.close()
    assert path.read_bytes().endswith(b'"CLOSE"}\n{"row":2}\n')


def test_resume_continues_an_empty_file_and_a_torn_first_record(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")  # a run stopped before its first record
    results = ResultsFile.open(str(empty), resume=True, force=False, input_path=None)
    try:
        assert (results.earlier.records, results.dropped_tail) == (0, False)
        results.write({"row": 1})
    finally:
        results.close()
    assert empty.read_bytes() == b'{"row":1}\n'
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b'{"row":1,"refer')  # ... or in the middle of it
    results = ResultsFile.open(str(torn), resume=True, force=False, input_path=None)
    try:
        assert results.dropped_tail is True
        results.write({"row": 1})
    finally:
        results.close()
    assert torn.read_bytes() == b'{"row":1}\n'


@pytest.mark.parametrize(
    "content",
    [b"call the bank\n", b"call the bank\nabout the refunds\n", b"[1, 2]\n"],
    ids=["one line", "two lines", "a JSON list"],
)
def test_resume_refuses_whole_lines_that_are_not_records(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(UsageError) as refusal:
        ResultsFile.open(str(path), resume=True, force=False, input_path=None)
    assert str(refusal.value) == f"--output {path} is not a results file (no JSON lines)"
    assert path.read_bytes() == content


def test_resume_refuses_a_partial_line_that_is_not_a_record(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    kept = b'{"row":1,"reference":"A1","order_status":"CLOSE"}\nnotes without a newline'
    path.write_bytes(kept)
    with pytest.raises(UsageError) as refusal:
        ResultsFile.open(str(path), resume=True, force=False, input_path=None)
    assert str(refusal.value) == (
        f"--output {path} ends with a partial line that is not a record: "
        "remove it, or choose another file"
    )
    assert path.read_bytes() == kept


def test_a_path_through_a_file_cannot_be_used(tmp_path: Path) -> None:
    parent = tmp_path / "refs.csv"
    parent.write_text("reference\nA1\n")
    path = parent / "out.jsonl"
    with pytest.raises(UsageError) as refusal:
        ResultsFile.open(str(path), resume=False, force=False, input_path=None)
    assert str(refusal.value) == f"cannot use --output {path}: Not a directory"


def test_a_missing_directory_cannot_be_written(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "out.jsonl"
    with pytest.raises(UsageError) as refusal:
        ResultsFile.open(str(path), resume=False, force=False, input_path=None)
    assert str(refusal.value) == f"cannot write --output {path}: No such file or directory"


@linux_only
def test_a_torn_line_that_cannot_be_dropped_is_said_and_the_file_closed() -> None:
    """A file that may not shrink (a sealed memfd): the partial line stays, the run stops."""
    memfd = os.memfd_create("results", os.MFD_ALLOW_SEALING)
    try:
        content = b'{"row":1,"reference":"A1","order_status":"CLOSE"}\n{"row":2,"ref'
        os.write(memfd, content)
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
        path = f"/proc/self/fd/{memfd}"
        before = open_descriptors()
        with pytest.raises(UsageError) as failure:
            ResultsFile.open(path, resume=True, force=False, input_path=None)
        assert str(failure.value) == (
            f"cannot drop the partial last line of {path}: Operation not permitted"
        )
        assert open_descriptors() == before  # the file it opened was closed
        assert os.pread(memfd, len(content) + 1, 0) == content
    finally:
        os.close(memfd)


def test_every_record_reads_back_as_written(fresh: ResultsFile, tmp_path: Path) -> None:
    record = outcome_record(refused("none"), 1, said={"reference": "é\u202e"}, supersedes=None)
    fresh.write(record)
    lines = (tmp_path / "out.jsonl").read_bytes().split(b"\n")
    assert lines[1:] == [b""]
    assert json.loads(lines[0]) == record
