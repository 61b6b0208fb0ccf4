"""The results file of ``close-many``, in process: opening, resuming, writing, closing.

The command's tests run it as a subprocess; mutation testing maps tests to the functions
they run in process only, so these pin ``_cli/_output.py`` where the mutants of it that
survived the rest of the suite (``nox -s mutants``) showed nothing did.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from opay_async._cli._exit import UsageError
from opay_async._cli._output import (
    MAX_RECORD_BYTES,
    Closed,
    ResultsFile,
    _describe,
    already_closed,
)

CLOSED_1 = b'{"row":1,"reference":"R-1","order_no":"O-1","ok":true,"order_status":"CLOSE"}\n'
OPEN_2 = b'{"row":2,"reference":"R-2","ok":false,"order_status":"SUCCESS"}\n'


def usage_error(call: object) -> str:
    with pytest.raises(UsageError) as caught:
        call()  # type: ignore[operator]
    return str(caught.value)


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_standard_output_is_written_and_never_closed(capfd: pytest.CaptureFixture[str]) -> None:
    results = ResultsFile.open("-", resume=False, force=False, input_path=None)
    assert (results.name, results.owned, results.written) == ("standard output", False, 0)
    assert results.is_terminal is False  # captured here
    assert results.closed == Closed()
    results.write({"row": 1, "ok": True})
    results.write({"row": 2, "ok": False})
    assert results.written == 2
    out, err = capfd.readouterr()
    assert (out, err) == ('{"row":1,"ok":true}\n{"row":2,"ok":false}\n', "")


def test_resume_needs_a_file() -> None:
    message = usage_error(lambda: ResultsFile.open("-", resume=True, force=False, input_path=None))
    assert message == "--resume needs --output FILE"


def test_a_new_file_is_created_with_the_usual_mode_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    umask = os.umask(0o022)
    try:
        results = ResultsFile.open(str(path), resume=False, force=False, input_path=None)
    finally:
        os.umask(umask)
    fd = results._fd
    assert (results.owned, results.written, results.is_terminal) == (True, 0, False)
    assert results.closed == Closed()
    results.write({"row": 1})
    results.close()
    assert not is_open(fd)
    assert results._fd < 0  # closed once: a second close closes nothing
    results.close()
    assert path.read_bytes() == b'{"row":1}\n'
    assert path.stat().st_mode & 0o777 == 0o644  # 0o666 less the umask
    message = usage_error(lambda: results.write({"row": 2}))
    assert message.startswith(f"cannot write to {path}: ")


def test_force_overwrites_an_earlier_results_file(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(CLOSED_1)
    assert (
        usage_error(lambda: ResultsFile.open(str(path), resume=False, force=False, input_path=None))
        == f"{path} exists: pass --resume to continue it, or --force"
    )
    results = ResultsFile.open(str(path), resume=False, force=True, input_path=None)
    assert results.closed == Closed()  # nothing read: it is overwritten
    results.write({"row": 9})
    results.close()
    assert path.read_bytes() == b'{"row":9}\n'


def test_resume_reads_what_was_closed_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(CLOSED_1 + OPEN_2)
    results = ResultsFile.open(str(path), resume=True, force=False, input_path=None)
    assert results.closed == Closed(references={"R-1"}, order_numbers={"O-1"}, records=2)
    results.write({"row": 2})
    results.close()
    assert path.read_bytes() == CLOSED_1 + OPEN_2 + b'{"row":2}\n'


def test_resume_of_a_torn_file_puts_the_torn_line_alone(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(CLOSED_1 + b'{"row":2,"refer')
    results = ResultsFile.open(str(path), resume=True, force=False, input_path=None)
    assert results.closed == Closed(references={"R-1"}, order_numbers={"O-1"}, records=1, torn=True)
    results.write({"row": 2})
    results.close()
    assert path.read_bytes() == CLOSED_1 + b'{"row":2,"refer\n{"row":2}\n'


def test_resume_of_an_empty_file_starts_it(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(b"")
    results = ResultsFile.open(str(path), resume=True, force=False, input_path=None)
    assert results.closed == Closed()
    results.close()


@pytest.mark.parametrize("content", [b"\n", b"garbage\n", b"[1, 2]\nnot json\n"])
def test_resume_of_a_file_that_is_not_results_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    message = usage_error(
        lambda: ResultsFile.open(str(path), resume=True, force=False, input_path=None)
    )
    assert message == f"--output {path} is not a results file (no JSON lines)"
    assert path.read_bytes() == content  # untouched


def test_paths_that_cannot_be_used_are_named_with_the_reason(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    inside = f"{a_file}/results.jsonl"
    assert (
        usage_error(lambda: ResultsFile.open(inside, resume=False, force=False, input_path=None))
        == f"cannot use --output {inside}: Not a directory"
    )
    missing = f"{tmp_path}/missing/results.jsonl"
    assert (
        usage_error(lambda: ResultsFile.open(missing, resume=False, force=False, input_path=None))
        == f"cannot write --output {missing}: No such file or directory"
    )
    assert (
        usage_error(
            lambda: ResultsFile.open(str(tmp_path), resume=False, force=True, input_path=None)
        )
        == f"--output {tmp_path} is a directory"
    )
    assert (
        usage_error(
            lambda: ResultsFile.open(str(a_file), resume=False, force=True, input_path=str(a_file))
        )
        == f"--output {a_file} is the input file"
    )


def test_a_closed_pipe_is_named_a_closed_pipe() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    results = ResultsFile(write_end, "the pipe", Closed(), owned=True)
    try:
        message = usage_error(lambda: results.write({"row": 1}))
    finally:
        results.close()
    assert message == "cannot write to the pipe: the reader closed it (broken pipe)"
    assert results.written == 0
    assert _describe(OSError("no errno here")) == "no errno here"


def test_a_file_not_owned_stays_open() -> None:
    read_end, write_end = os.pipe()
    try:
        results = ResultsFile(write_end, "borrowed", Closed(), owned=False)
        results.close()
        assert is_open(write_end)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_an_owned_file_on_descriptor_0_is_closed(tmp_path: Path) -> None:
    saved = os.dup(0)  # a run started with stdin closed opens its output as fd 0
    try:
        fd = os.open(tmp_path / "results.jsonl", os.O_WRONLY | os.O_CREAT)
        os.dup2(fd, 0)
        os.close(fd)
        ResultsFile(0, "results.jsonl", Closed(), owned=True).close()
        assert not is_open(0)
    finally:
        os.dup2(saved, 0)
        os.close(saved)


def test_has_matches_references_first_then_order_numbers() -> None:
    closed = Closed(references={"R-1"}, order_numbers={"O-1"})
    assert closed.has({"reference": "R-1"}) is True
    assert closed.has({"reference": "R-2", "order_no": "O-1"}) is False  # the reference decides
    assert closed.has({"reference": "", "order_no": "O-1"}) is True
    assert closed.has({"order_no": "O-2"}) is False
    assert closed.has({"reference": "", "order_no": ""}) is False
    assert closed.has({}) is False


def test_a_last_line_of_exactly_the_limit_is_too_long_not_torn(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(CLOSED_1 + b"x" * MAX_RECORD_BYTES)
    assert already_closed(str(path)) == Closed(
        references={"R-1"}, order_numbers={"O-1"}, records=1, torn=False
    )
    path.write_bytes(CLOSED_1 + b"x" * (MAX_RECORD_BYTES - 1))
    assert already_closed(str(path)).torn is True


def test_a_line_too_long_to_be_ours_is_skipped_whole_in_bounded_memory(tmp_path: Path) -> None:
    # 12 MiB of spaces and then a valid record, on one line: not ours, however it ends.
    long_line = (
        b" " * (12 * MAX_RECORD_BYTES)
        + json.dumps({"reference": "R-LONG", "order_status": "CLOSE"}).encode()
        + b"\n"
    )
    path = tmp_path / "results.jsonl"
    path.write_bytes(CLOSED_1 + long_line + b'{"reference":"R-3","order_status":"CLOSE"}\n')
    del long_line
    tracemalloc.start()
    try:
        closed = already_closed(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert closed.references == {"R-1", "R-3"}
    assert closed.records == 2
    assert peak < 8 * MAX_RECORD_BYTES  # chunks of 1 MiB, never the whole 12 MiB line
