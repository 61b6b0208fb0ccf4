"""Every code sample in README.md and docs/ runs, so none of them rots.

Python blocks of one page run in order in one namespace, with top-level ``await``, against
an in-process ``FakeOPay(auto_create=True)``: every ``OPayClient`` the samples create
without a transport of their own is sent there, and ``OPAY_MERCHANT_ID`` /
``OPAY_SECRET_KEY`` hold the simulator's credentials. Shell lines that run the
``opay-async`` command are parsed by the command's own parser, and those with
``--simulate`` are run for real.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

import opay_async._http._connections
from opay_async._cli import main
from opay_async._cli._parser import build_parser
from opay_async.testing import FakeOPay, instant_retries

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
    return [sample for sample in blocks(page, "python") if "--8<--" not in sample]


@pytest.mark.parametrize(
    "page", [page for page in PAGES if python_samples(page)], ids=lambda page: page.name
)
def test_python_samples_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples = python_samples(page)
    fake = FakeOPay(auto_create=True)
    monkeypatch.setenv("OPAY_MERCHANT_ID", fake.merchant_id)
    monkeypatch.setenv("OPAY_SECRET_KEY", fake.secret_key)
    monkeypatch.delenv("OPAY_BASE_URL", raising=False)
    monkeypatch.delenv("OPAY_ENVIRONMENT", raising=False)
    monkeypatch.setattr(
        opay_async._http._connections, "_transports", lambda *_: lambda _: fake.transport
    )

    async def run_all() -> None:
        namespace: dict[str, Any] = {"__name__": f"docs.{page.stem}"}
        for number, sample in enumerate(samples, start=1):
            code = compile(
                sample,
                f"{page.name}[python #{number}]",
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            )
            result = eval(code, namespace)
            if inspect.iscoroutine(result):
                await result
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
    if "def test_" in "".join(samples):
        assert ran


def opay_commands(page: Path) -> list[list[str]]:
    commands = []
    for block in blocks(page, "sh"):
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.split("#", 1)[0].strip().removesuffix("&").strip()
            for part in line.split("&&"):
                words = shlex.split(part.strip())
                if words[:1] == ["opay-async"]:
                    commands.append(words[1:])
                elif words[:3] == ["python", "-m", "opay_async"]:
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
