"""The command's numeric options refuse numbers too large to be numbers, in one line, exit 2."""

from __future__ import annotations

import pytest

from opay_async._cli._parser import build_parser
from tests.helpers import EXAMPLE, assert_usage_error, run

HOSTILE = [
    "1e400",
    "-1e400",
    "9" * 400,
    "-" + "9" * 400,
    "9" * 5000,  # int() of it raises ValueError (more than 4300 digits)
    "inf",
    "-inf",
    "nan",
    "1e308",
    "0x10",
    "true",
    "",
    " ",
    "1_0e999",
]

OPTIONS = [
    ["close", "--reference", "A", "--country", "EG", "--timeout"],
    ["close", "--reference", "A", "--country", "EG", "--attempts"],
    ["close-many", "f.csv", "--concurrency"],
    ["close-many", "f.csv", "--rate"],
    ["simulate", "--port"],
    ["simulate", "--latency"],
    ["simulate", "--fault-rate"],
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option[-1])
def test_each_numeric_option_refuses_hostile_numbers(
    option: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args([*option, value])
    assert caught.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert option[-1] in lines[0]
    assert len(lines[0]) < 300  # 5000 nines are cut, not echoed


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["close-many", str(EXAMPLE), "--simulate", "--rate", "1e-300"], "--rate"),
        (["close-many", str(EXAMPLE), "--simulate", "--concurrency", "9" * 400], "--concurrency"),
        (
            ["close", "--simulate", "--reference", "A", "--country", "EG", "--timeout", "1e400"],
            "--timeout",
        ),
    ],
)
def test_the_command_ends_in_one_line_on_a_number_too_large(args: list[str], needle: str) -> None:
    ran = run(*args, timeout=30)
    assert_usage_error(ran, needle)
    assert ran.seconds < 30
