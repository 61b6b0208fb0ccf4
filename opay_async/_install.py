"""Install hints that work for the installation at hand.

opay-async is not on PyPI: ``pip install 'opay-async[cli]'`` fails for a user who
installed it from a checkout. pip records where a package came from in the
``direct_url.json`` of its metadata (PEP 610); the hint installs the extra from the same
place, with the interpreter that runs this command (so it lands in the same
environment).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from importlib import metadata
from typing import Any, Final
from urllib.parse import unquote, urlsplit

__all__ = ["DISTRIBUTION", "install_hint"]

#: The distribution's name on an index.
DISTRIBUTION: Final = "opay-async"


def _python() -> str:
    """``python`` when that is this interpreter on ``PATH``, else this interpreter's path."""
    found = shutil.which("python")
    if found is not None and os.path.realpath(found) == os.path.realpath(sys.executable):
        return "python"
    return shlex.quote(sys.executable)


def _origin() -> dict[str, Any] | None:
    """The installation's ``direct_url.json``; ``None`` when installed from an index."""
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        origin: Any = json.loads(text) if text else None
    except ValueError:
        return None
    return origin if isinstance(origin, dict) else None  # pyright: ignore[reportUnknownVariableType]


def _requirement(extra: str, origin: dict[str, Any] | None) -> str:
    """What ``pip install`` is given to add ``extra`` where the package came from."""
    url = origin.get("url") if origin else None
    if not isinstance(url, str) or origin is None:
        return shlex.quote(f"{DISTRIBUTION}[{extra}]")
    parts = urlsplit(url)
    vcs: Any = origin.get("vcs_info")
    if parts.scheme == "file":
        path = unquote(parts.path)
        dir_info: Any = origin.get("dir_info")
        if isinstance(dir_info, dict) and dir_info.get("editable") is True:  # pyright: ignore[reportUnknownMemberType]
            return f"-e {shlex.quote(f'{path}[{extra}]')}"
        if os.path.exists(path):  # a checkout or an archive that is still there
            return shlex.quote(f"{path}[{extra}]")
        return shlex.quote(f"{DISTRIBUTION}[{extra}]")
    if isinstance(vcs, dict):
        commit = vcs.get("commit_id")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        at = f"@{commit}" if isinstance(commit, str) else ""
        return shlex.quote(f"{DISTRIBUTION}[{extra}] @ {vcs.get('vcs', 'git')}+{url}{at}")  # pyright: ignore[reportUnknownMemberType]
    return shlex.quote(f"{DISTRIBUTION}[{extra}] @ {url}")


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` for this installation of opay-async.

    From a checkout installed with ``pip install -e .``, that is
    ``python -m pip install -e '/path/to/checkout[extra]'``; from an index,
    ``python -m pip install 'opay-async[extra]'``.

    Args:
        extra: The extra's name, e.g. ``"simulator"``.
    """
    return f"{_python()} -m pip install {_requirement(extra, _origin())}"
