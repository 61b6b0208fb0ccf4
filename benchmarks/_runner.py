"""The runner: the loopback server's lifecycle, worker processes, interleaved rounds.

- ``loopback_server`` runs ``_server.py`` in processes of their own and stops them
  whatever happens (they also stop by themselves when this process dies).
- ``run_worker`` runs one measurement in a fresh process (``_worker.py``) and checks
  that it imported the ``opay_async`` it had to: this checkout's code as installed
  (``current_sdk``: ``nox -s bench`` installs it as a wheel, the way users get it), or a
  baseline's tree, put first on ``PYTHONPATH``.
- ``benchmark`` runs every contender at every level once per round, the order rotating
  from round to round, and summarises each (median, range, highest peak RSS).
- ``memory`` runs the ``iter_close_many`` memory runs.
- ``baseline_tree`` checks another revision out with ``git worktree add --detach`` and
  removes it afterwards, on success, error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from _contenders import base_name, revision

HERE: Final = Path(__file__).resolve().parent
#: The checkout these benchmarks belong to: its ``opay_async`` is the one measured.
ROOT: Final = HERE.parent


def _stop(process: subprocess.Popen[Any], *, grace: float) -> None:
    """Stop a process of ours: its stdin closed first, then SIGTERM, then SIGKILL."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    for signum in (None, signal.SIGTERM, signal.SIGKILL):
        if signum is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        break
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def loopback_server(latency: float, processes: int = 1) -> Generator[str]:
    """Run ``_server.py`` in ``processes`` processes on one free port; yield its base URL.

    The servers run in a session of their own (Ctrl-C in the terminal reaches only this
    process, which stops them), and stop by themselves should this process die: they
    serve until their stdin closes.
    """
    command = [sys.executable, str(HERE / "_server.py"), "--latency", str(latency)]
    if processes > 1:
        command.append("--reuse-port")
    started: list[subprocess.Popen[str]] = []
    try:
        port = 0
        for _ in range(processes):
            server = subprocess.Popen(
                [*command, "--port", str(port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            started.append(server)
            assert server.stdout is not None
            line = server.stdout.readline()
            if not line.strip().isdigit():
                raise RuntimeError(f"the loopback server did not start (said {line!r})")
            port = int(line)
        yield f"http://127.0.0.1:{port}"
    finally:
        for server in started:
            _stop(server, grace=5.0)


def _sources(package: Path) -> dict[str, bytes]:
    """The Python sources of a package directory, by relative path."""
    return {
        path.relative_to(package).as_posix(): path.read_bytes()
        for path in package.rglob("*.py")
        if "__pycache__" not in path.parts
    }


@functools.cache
def current_sdk() -> tuple[Path | None, Path]:
    """Where workers import this checkout's ``opay_async`` from.

    Returns the ``PYTHONPATH`` entry they need (None: the installed package, found as
    the workers find it) and the package directory they must import. The installed
    package is used when it holds exactly this checkout's sources (a wheel of it, or an
    editable install); none installed, the checkout itself.

    Raises:
        RuntimeError: The installed ``opay_async`` is another version of the code.
    """
    checkout = ROOT / "opay_async"
    spec = importlib.util.find_spec("opay_async")
    if spec is None or spec.origin is None:
        return ROOT, checkout
    package = Path(spec.origin).resolve().parent
    if package != checkout.resolve() and _sources(package) != _sources(checkout):
        raise RuntimeError(
            f"the installed opay_async ({package}) is not this checkout's code: reinstall it"
            " (python -m pip install --force-reinstall --no-deps .), or run: nox -s bench"
        )
    return None, package


def worker_env(tree: Path | None) -> dict[str, str]:
    """The environment of a worker: ``tree`` first on ``PYTHONPATH`` (None: unchanged)."""
    if tree is None:
        return dict(os.environ)
    path = [str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def run_worker(spec: dict[str, Any], timeout: float, tree: Path | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh process: this checkout's SDK, or ``tree``'s."""
    path_entry, package = (tree, tree / "opay_async") if tree else current_sdk()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_worker.py"), json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=worker_env(path_entry),
        start_new_session=True,  # Ctrl-C reaches us; we stop the worker
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    lines = stdout.strip().splitlines()
    name = f"{spec['contender']} (C={spec['concurrency']}, opay_async from {package})"
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{name} exited with {process.returncode}:\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    imported = result["opay_async"]
    if imported is not None and not Path(imported).resolve().is_relative_to(package.resolve()):
        raise RuntimeError(f"{name} imported opay_async from {imported} instead")
    if result["failed"]:
        print(
            f"  !! {spec['contender']} C={spec['concurrency']}: {result['failed']} of "
            f"{result['n'] + spec.get('warm_up', 0)} closes failed; first failures:",
            file=sys.stderr,
        )
        for error in result["errors"]:
            print(f"     {error}", file=sys.stderr)
    return result


@dataclass
class Summary:
    """One contender at one concurrency, over the rounds (lists in round order)."""

    rates: list[float]
    cpu_ms: list[float]
    rss_mib: list[float]
    failed: int
    retries: int
    imported: str | None  # the opay_async the runs imported (None: a raw contender)
    http_modules: list[str]  # the HTTP libraries the runs imported

    @property
    def rate(self) -> float:
        """Median closes per second."""
        return statistics.median(self.rates)

    @property
    def cpu(self) -> float:
        """Median CPU milliseconds per close."""
        return statistics.median(self.cpu_ms)

    @property
    def rss(self) -> float:
        """Highest peak RSS (MiB)."""
        return max(self.rss_mib)


def tree_for(key: str, baseline: Path | None) -> Path | None:
    """The tree whose ``opay_async`` the runs of ``key`` import (None: this checkout's)."""
    return baseline if revision(key) and baseline else None


def benchmark(
    base_url: str,
    *,
    levels: list[int],
    keys: list[str],
    n: int,
    rounds: int,
    warm_up: int,
    timeout: float,
    baseline: Path | None = None,
) -> dict[int, dict[str, Summary]]:
    """Every run key at every level, ``rounds`` times, interleaved in rotating order.

    A key is a contender (``sdk-httpx2``) or a contender at the baseline revision
    (``sdk-httpx2@1a2b3c4``), whose workers import ``opay_async`` from ``baseline``.
    """
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {
        (level, key): [] for level in levels for key in keys
    }
    for round_index in range(rounds):
        for level_index, level in enumerate(levels):
            shift = (round_index + level_index) % len(keys)
            for key in keys[shift:] + keys[:shift]:
                spec = {
                    "contender": base_name(key),
                    "base_url": base_url,
                    "n": n,
                    "concurrency": level,
                    "warm_up": warm_up,
                }
                result = run_worker(spec, timeout, tree_for(key, baseline))
                runs[level, key].append(result)
                print(
                    f"  round {round_index + 1}/{rounds}  C={level:<4} {key:<20}"
                    f" {n / result['wall']:8,.0f} closes/s"
                    f" {result['cpu'] / n * 1000:7.3f} ms CPU/close"
                    f" {result['rss_mib']:6.1f} MiB  {result['wall']:6.1f} s"
                    + (f"  {result['failed']} FAILED" if result["failed"] else ""),
                    file=sys.stderr,
                )
    return {
        level: {
            key: Summary(
                rates=[n / r["wall"] for r in runs[level, key]],
                cpu_ms=[r["cpu"] / n * 1000 for r in runs[level, key]],
                rss_mib=[r["rss_mib"] for r in runs[level, key]],
                failed=sum(r["failed"] for r in runs[level, key]),
                retries=sum(r["retries"] for r in runs[level, key]),
                imported=runs[level, key][-1]["opay_async"],
                http_modules=sorted({m for r in runs[level, key] for m in r["http_modules"]}),
            )
            for key in keys
        }
        for level in levels
    }


@dataclass
class MemoryRun:
    """One ``iter_close_many`` memory run."""

    items: int
    rss_mib: float
    rate: float
    cpu_ms: float
    failed: int


def memory(
    base_url: str, sizes: list[int], concurrency: int, backend: str, timeout: float
) -> list[MemoryRun]:
    """``iter_close_many`` over a generator of each of ``sizes`` items, each in a fresh process."""
    runs: list[MemoryRun] = []
    for size in sizes:
        spec = {
            "contender": "memory",
            "base_url": base_url,
            "n": size,
            "concurrency": concurrency,
            "backend": backend,
        }
        result = run_worker(spec, timeout)
        run = MemoryRun(
            items=size,
            rss_mib=result["rss_mib"],
            rate=size / result["wall"],
            cpu_ms=result["cpu"] / size * 1000,
            failed=result["failed"],
        )
        runs.append(run)
        print(
            f"  memory {size:>9,} items: {run.rss_mib:6.1f} MiB peak RSS,"
            f" {run.rate:7,.0f} closes/s, {result['wall']:6.1f} s"
            + (f"  {run.failed} FAILED" if run.failed else ""),
            file=sys.stderr,
        )
    return runs


def _git(*args: str) -> str:
    """Run git in this checkout (in a session of its own: a second Ctrl-C spares it)."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def baseline_tree(rev: str) -> Generator[tuple[Path, str]]:
    """Check ``rev`` out in a temporary worktree; yield its path and short revision.

    The worktree is removed (and git's record of it pruned) when the block ends, by an
    error or Ctrl-C too. It never touches this checkout's files or index.
    """
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except RuntimeError:
        raise RuntimeError(f"--baseline {rev!r}: not a commit of {ROOT}") from None
    short = _git("rev-parse", "--short", commit)
    parent = Path(tempfile.mkdtemp(prefix=f"opay-bench-{short}-"))
    tree = parent / "tree"
    try:
        _git("worktree", "add", "--detach", str(tree), commit)
        if not (tree / "opay_async" / "__init__.py").is_file():
            raise RuntimeError(f"revision {rev} ({short}) has no opay_async package")
        yield tree, short
    finally:
        with contextlib.suppress(RuntimeError):
            _git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)
        with contextlib.suppress(RuntimeError):
            _git("worktree", "prune")
