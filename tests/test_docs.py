"""Every code sample in README.md and docs/ runs, so none of them rots.

Python blocks of one page run in order in one namespace, with top-level ``await``, against
an in-process ``FakeOPay(auto_create=True)``: every ``OPayClient`` the samples create
without a transport of their own is sent there, and ``OPAY_MERCHANT_ID`` /
``OPAY_SECRET_KEY`` hold the simulator's credentials. A block that runs its own event
loop (``asyncio.run(main())``, as a script does) runs as written, in a thread of its own.
Shell lines that run the ``opay-async`` command are parsed by the command's own parser,
and those with ``--simulate`` are run for real.

Output a page shows is compared with what runs: the comment after a ``print(...)`` call
(``print(error)  # [02006] ...``) is a line the block prints; a ``text`` block after a
Python block and a paragraph ending in "prints:" is everything the block prints; the
simulator's banner, the error tree and the curl session of the pages are checked against
the command, the classes and a live simulator.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import opay_async
import opay_async._http._connections
from opay_async._cli import main
from opay_async._cli._parser import build_parser
from opay_async.testing import FakeOPay, instant_retries
from tests.helpers import RUN_TIMEOUT, clean_env, spawned

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>\w*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)


def blocks(page: Path, language: str) -> list[str]:
    found = []
    for match in FENCE.finditer(page.read_text()):
        if match["lang"] == language:
            indent = len(match["indent"])
            found.append("\n".join(line[indent:] for line in match["body"].splitlines()))
    return found


def test_every_page_is_checked() -> None:
    assert len(PAGES) >= 13
    assert sum(len(blocks(page, "python")) for page in PAGES) >= 25


def python_samples(page: Path) -> list[str]:
    """The page's Python blocks; snippet includes are checked by mkdocs --strict instead."""
    return [sample for sample, _ in samples_and_outputs(page)]


def dedent(match: re.Match[str]) -> str:
    indent = len(match["indent"])
    return "\n".join(line[indent:] for line in match["body"].splitlines())


def samples_and_outputs(page: Path) -> list[tuple[str, str | None]]:
    """Each Python block, with the output the page shows for it ("It prints:" and a text block)."""
    text = page.read_text()
    fences = list(FENCE.finditer(text))
    found: list[tuple[str, str | None]] = []
    for index, match in enumerate(fences):
        after = fences[index + 1] if index + 1 < len(fences) else None
        if match["lang"] != "python" or "--8<--" in match["body"]:
            continue
        shown = None
        if after is not None and after["lang"] == "text":
            between = text[match.end() : after.start()].strip()
            if between.endswith("prints:") and "\n\n" not in between:
                shown = dedent(after)
        found.append((dedent(match), shown))
    return found


#: ``print(...)  # what it prints``: the comment is a line of the output.
PRINTED = re.compile(r"^\s*print\(.*\)\s+#\s(?P<shown>.+)$", re.M)


def check_output(name: str, sample: str, shown: str | None, printed: list[str]) -> None:
    output = "".join(printed)
    for expected in PRINTED.findall(sample):
        assert expected in output.splitlines(), f"{name}: shows {expected!r}, prints {output!r}"
    if shown is not None:
        assert output.rstrip("\n") == shown.rstrip("\n"), f"{name}: prints {output!r}"


@pytest.mark.parametrize(
    "page", [page for page in PAGES if python_samples(page)], ids=lambda page: page.name
)
def test_python_samples_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples = samples_and_outputs(page)
    fake = FakeOPay(auto_create=True)
    monkeypatch.setenv("OPAY_MERCHANT_ID", fake.merchant_id)
    monkeypatch.setenv("OPAY_SECRET_KEY", fake.secret_key)
    monkeypatch.delenv("OPAY_BASE_URL", raising=False)
    monkeypatch.delenv("OPAY_ENVIRONMENT", raising=False)
    monkeypatch.setattr(
        opay_async._http._connections, "_maker", lambda *_: lambda _: lambda _: fake.transport
    )

    printed: list[str] = []

    def record(*values: object, sep: str | None = " ", end: str | None = "\n", **_: Any) -> None:
        printed.append((sep or "").join(map(str, values)) + (end or ""))

    async def run_all() -> None:
        namespace: dict[str, Any] = {"__name__": f"docs.{page.stem}", "print": record}
        for number, (sample, shown) in enumerate(samples, start=1):
            name = f"{page.name}[python #{number}]"
            printed.clear()
            if "asyncio.run(" in sample:  # a script: it runs its own event loop
                await asyncio.to_thread(exec, compile(sample, name, "exec"), namespace)
            else:
                code = compile(sample, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                result = eval(code, namespace)
                if inspect.iscoroutine(result):
                    await result
            check_output(name, sample, shown, printed)
        # A sample that shows a pytest test is run too, with the plugin's fixtures.
        for name, function in list(namespace.items()):
            if name.startswith("test_") and inspect.iscoroutinefunction(function):
                with instant_retries() as clock:
                    fake_for_test = FakeOPay()
                    fixtures = {
                        "opay_fake": fake_for_test,
                        "opay_client": fake_for_test.client(),
                        "opay_instant_retries": clock,
                    }
                    wanted = inspect.signature(function).parameters
                    async with fixtures["opay_client"]:  # type: ignore[attr-defined]
                        await function(**{key: fixtures[key] for key in wanted})
                ran.append(name)

    ran: list[str] = []
    asyncio.run(run_all())
    if "def test_" in "".join(sample for sample, _ in samples):
        assert ran


def uses_top_level_await(sample: str) -> bool:
    try:
        compile(sample, "<sample>", "exec")
    except SyntaxError:
        compile(sample, "<sample>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        return True
    return False


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if any(map(uses_top_level_await, python_samples(page)))],
    ids=lambda page: page.name,
)
def test_a_page_with_top_level_await_shows_how_to_run_it(page: Path) -> None:
    """Top-level ``await`` runs in ``python -m asyncio``, not in a script: the page says so."""
    assert any("asyncio.run(" in sample for sample in python_samples(page)), page.name
    assert "python -m asyncio" in page.read_text(), page.name


def test_outputs_shown_are_checked() -> None:
    samples = [pair for page in PAGES for pair in samples_and_outputs(page)]
    assert sum(len(PRINTED.findall(sample)) for sample, _ in samples) >= 2
    assert sum(shown is not None for _, shown in samples) >= 1


def opay_commands(page: Path) -> list[list[str]]:
    commands = []
    for block in blocks(page, "sh"):
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.split("#", 1)[0].strip().removesuffix("&").strip()
            for part in line.split("&&"):
                words = shlex.split(part.strip())
                if words[:1] in (["opay-async"], [".venv/bin/opay-async"]):
                    commands.append(words[1:])
                elif words[:3] in (
                    ["python", "-m", "opay_async"],
                    [".venv/bin/python", "-m", "opay_async"],
                ):
                    commands.append(words[3:])
    return commands


@pytest.mark.parametrize(
    "page", [page for page in PAGES if opay_commands(page)], ids=lambda page: page.name
)
def test_shell_samples_are_valid_commands(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = opay_commands(page)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for command in commands:
        build_parser().parse_args(command)
        if "--simulate" in command:
            assert main(command) in (0, 1)  # the example file has rows that must fail


def test_the_readme_main_command_closes_the_example_file() -> None:
    commands = opay_commands(ROOT / "README.md")
    assert commands[0][:2] == ["close-many", "examples/stale_orders.csv"]
    assert "--simulate" in commands[0]


def set_up_commands() -> list[str]:
    """The README's two set-up commands: the main job, then the whole test suite."""
    text = (ROOT / "README.md").read_text()
    start = text.index("## Set-up: two commands\n")
    section = text[start : text.index("\n## ", start + 1)]
    found = [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]
    assert len(found) == 2, found
    assert all("\n" not in command for command in found), found  # one line each
    return found


def test_the_readme_sets_up_in_a_venv_of_its_own() -> None:
    """Debian's Python refuses ``pip install`` outside a venv: both commands make one."""
    for command in set_up_commands():
        steps = [step.strip() for step in command.split("&&")]
        assert steps[0] == "python3 -m venv .venv", command
        assert all(step.startswith(".venv/bin/") for step in steps[1:]), command
    main_job, suite = set_up_commands()
    assert main_job.split("&&")[1].strip() == ".venv/bin/python -m pip install -e '.[cli]'"
    assert suite.endswith("&& .venv/bin/nox")


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert lines[-1] == set_up_commands()[1]


def text_block_starting(page: Path, first_line: str) -> str:
    [block] = [block for block in blocks(page, "text") if block.startswith(first_line)]
    return block


def test_the_banner_shown_is_what_simulate_prints() -> None:
    shown = text_block_starting(ROOT / "docs" / "testing.md", "OPay simulator listening on")
    with spawned("simulate", "--port", "0", stdout=subprocess.PIPE) as simulator:
        assert simulator.stdout is not None
        lines: list[str] = []
        while not lines or lines[-1] != "Ctrl-C stops it.":
            line = simulator.stdout.readline().decode()
            assert line, f"the simulator ended its banner early: {lines}"
            lines.append(line.rstrip("\n"))
    base_url = lines[0].removeprefix("OPay simulator listening on ")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url), lines[0]
    # The page shows port 8000 (its command asks for it); this run took a free port.
    assert "\n".join(lines).replace(base_url, "http://127.0.0.1:8000") == shown


def test_the_error_tree_is_the_class_hierarchy() -> None:
    tree = text_block_starting(ROOT / "docs" / "errors.md", "OPayError")
    parents: list[type[BaseException]] = []
    drawn = []
    for line in tree.splitlines():
        branch = re.match(r"^(?P<indent>[│ ]*)(?:[├└]── )?(?P<name>\w+)(?P<rest>.*)$", line)
        assert branch, line
        depth = len(branch["indent"]) // 4 + (1 if "──" in line else 0)
        cls = getattr(opay_async, branch["name"])
        del parents[depth:]
        if parents:
            assert parents[-1] in cls.__bases__, f"{cls.__name__} is not a {parents[-1].__name__}"
        parents.append(cls)
        drawn.append(cls)
        codes = set(re.findall(r"\b\d{5}\b", branch["rest"]))
        if cls is not opay_async.OPayAPIError and issubclass(cls, opay_async.OPayAPIError):
            assert codes == set(cls.codes), f"{cls.__name__}: the page says {codes}"
    errors = {
        value
        for value in vars(opay_async).values()
        if isinstance(value, type) and issubclass(value, opay_async.OPayError)
    }
    assert set(drawn) == errors  # every public error, each once
    assert len(drawn) == len(errors)


def shell_block_after(page: Path, needle: str) -> str:
    [block] = [block for block in blocks(page, "bash") if needle in block]
    return block


@pytest.mark.skipif(
    not all(map(shutil.which, ("bash", "curl", "openssl", "sed", "grep"))),
    reason="the session needs bash, curl, openssl, sed and grep",
)
def test_the_curl_session_runs_as_written(tmp_path: Path) -> None:
    """The simulator started as the page says, then its curl session, each output compared."""
    page = ROOT / "docs" / "testing.md"
    start = shell_block_after(page, "simulate --port 0 > simulator.log &")
    session = shell_block_after(page, "curl ")
    checks: list[str | None] = []
    script = [start.replace("python -m", f"{shlex.quote(sys.executable)} -m", 1)]
    script.append("SIMULATOR=$!; trap 'kill $SIMULATOR' EXIT")
    for line in session.splitlines():
        command, _, comment = line.partition("   # ")
        if command.startswith("curl ") or command == "close":
            script.append(f"{command}; echo")  # each answer on a line of its own
            comment = comment.strip()
            checks.append(comment if comment.startswith("{") else None)
        else:
            script.append(line)
    shell = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the shell and its simulator: one group, stopped at the end
    )
    try:
        stdout, stderr = shell.communicate(timeout=RUN_TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()
    assert shell.returncode == 0, stderr.decode()
    answers = stdout.decode().splitlines()
    assert len(answers) == len(checks), answers
    for answer, shown in zip(answers, checks, strict=True):
        assert answer.startswith("{"), answer
        if shown is not None:  # the page's "..." stands for any text
            pattern = ".*".join(re.escape(part) for part in shown.split("..."))
            assert re.fullmatch(pattern, answer), (shown, answer)
    requests = answers[-2]
    assert requests.count('"verified":true') == 2, requests
