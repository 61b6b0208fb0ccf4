"""The package's shape: no import cycles, small modules, no reaching into private parts."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import opay_async
import opay_async.testing

PACKAGE = Path(opay_async.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {module_name(path) for path in MODULES}


def imported_modules(path: Path) -> set[str]:
    """Every opay_async module ``path`` imports, anywhere in it (TYPE_CHECKING blocks and
    function bodies included)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from . import x` may import the submodule x
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in NAMES else base)
    return {name for name in found if name in NAMES and name != here}


def cycles() -> list[list[str]]:
    graph = {module_name(path): imported_modules(path) for path in MODULES}
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                found.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_import_graph_is_found() -> None:
    assert "opay_async._sending" in imported_modules(PACKAGE / "_client.py")
    assert "opay_async._wire" in imported_modules(PACKAGE / "_sending.py")


def test_no_import_cycle_among_the_package_modules() -> None:
    assert cycles() == []


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_grows_past_the_limit(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_reaches_into_another_modules_private_names(path: Path) -> None:
    text = path.read_text()
    assert "reportPrivateUsage" not in text
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            private = [
                alias.name
                for alias in node.names
                if alias.name.startswith("_") and not alias.name.endswith("__")
            ]
            assert not private, f"{module_name(path)} imports {private} from {node.module}"


@pytest.mark.parametrize("module", [opay_async, opay_async.testing], ids=lambda m: m.__name__)
def test_every_public_name_is_exported_and_documented(module: object) -> None:
    exported = module.__all__  # type: ignore[attr-defined]
    assert sorted(exported, key=str.lower) == sorted(set(exported), key=str.lower)
    for name in exported:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_private_modules_stay_private() -> None:
    for name in NAMES - {"opay_async", "opay_async.testing"}:
        assert any(part.startswith("_") for part in name.split(".")[1:]), name
        importlib.import_module(name)  # and each imports on its own
