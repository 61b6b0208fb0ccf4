"""Project automation: ``nox`` runs tests, lint, typing and docs; ``nox -s NAME`` one of them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

# The first nox with nox.project.dependency_groups and python_versions.
nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = not os.environ.get("CI")
nox.options.sessions = [
    "tests", "tests_legacy_httpx", "tests_uvloop", "lint", "typing", "docs", "package",
]  # fmt: skip
# A Python that is not installed skips its session instead of failing the run.
nox.options.error_on_missing_interpreters = False

PYPROJECT = nox.project.load_toml("pyproject.toml")
# The Pythons of the trove classifiers: a missing interpreter skips its session.
PYTHONS = nox.project.python_versions(PYPROJECT)


def _install_group(session: nox.Session, *groups: str) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, *groups))


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage (fails under 95%)."""
    session.install("-e", ".[aiohttp,cli,simulator,otel]")
    _install_group(session, "tests")
    session.run("coverage", "erase")
    # pytest-xdist: a worker per core, four at most (coverage measures each: patch=subprocess);
    # a module's tests on one worker, so its fixtures (a broker, a worker fleet) start once.
    workers = str(min(os.cpu_count() or 1, 4))
    session.run(
        "coverage", "run", "-m", "pytest", "-n", workers, "--dist", "loadscope", *session.posargs
    )
    session.run("coverage", "combine", success_codes=[0, 1])
    session.run("coverage", "report")


@nox.session(python="3.11")
def tests_legacy_httpx(session: nox.Session) -> None:
    """The tests that hand the SDK a transport or client, again with legacy httpx's.

    Every ``MockTransport`` and ``http_client`` the tests hand the SDK is then legacy
    httpx's (``OPAY_TESTS_HTTPX=legacy``): signing, reading, retries and every hardening
    promise are checked on both families. tests/conftest.py keeps the modules that use
    ``tests.helpers.hx`` (the others send through httpx2 whatever is installed: the default
    session runs them) and the ``timed`` tests, timed here without coverage's tracer.
    The default session checks httpx is absent.
    """
    session.install("-e", ".[aiohttp,cli,simulator,otel]", "httpx")
    _install_group(session, "tests")
    session.run(
        "pytest", "-p", "no:cacheprovider", *session.posargs, env={"OPAY_TESTS_HTTPX": "legacy"}
    )


#: The tests run again on uvloop: each runs event loops the SDK sends from, over sockets or
#: through the loop's scheduler, timeouts and cancellation.
UVLOOP_TESTS = [
    "tests/test_event_loop_in_use.py",  # fails if the loops are not uvloop's
    "tests/reliability/test_event_loops.py",  # asyncio.run twice, a loop per thread, -X dev
    "tests/reliability/test_hostile_answers.py",  # raw servers; memory, in uvloop children
    "tests/reliability/test_reading_limits.py",  # the reader's limits over sockets
    "tests/reliability/test_environment.py",  # TLS (uvloop's own SSL), proxies, CA bundles
    "tests/reliability/test_redirects.py",  # 3xx over sockets
    "tests/reliability/test_leaks.py",  # fds, tasks, ResourceWarnings after cancellations
    "tests/reliability/test_soak.py",  # 10,000 closes with drops and timeouts
    "tests/test_caller_timeouts.py",  # a caller's client's timeouts over sockets
    "tests/test_bulk.py",  # concurrency and cancellation against a loopback server
    "tests/test_client.py",  # the own pool, closing, logging
    "tests/test_exchange.py",  # what goes on the wire, through a proxy
    "tests/testing/test_fake_ways_in.py",  # the simulator served by uvicorn
    "tests/test_fastapi_example.py",  # the FastAPI example, in TestClient's loop
    "tests/test_stop.py",  # a run's stop cancels its waits (Task.uncancel)
    "tests/test_telemetry.py",  # spans carried into workers' contexts, several loops
]


@nox.session(python="3.11")
def tests_uvloop(session: nox.Session) -> None:
    """The event-loop, socket and hostile-answer tests again, on uvloop's event loops.

    FastAPI services run under ``uvicorn[standard]``, which runs uvloop.
    ``OPAY_TESTS_LOOP=uvloop`` makes tests/conftest.py put every async test on uvloop
    (pytest-asyncio's loop-factory hook) and every ``asyncio.run`` and
    ``asyncio.new_event_loop`` of a test too (the event loop policy); both backends and a
    caller's client are covered. ``nox -s tests_uvloop -- -k NAME`` narrows the run.
    """
    session.install("-e", ".[aiohttp,cli,simulator,otel]")
    _install_group(session, "tests", "uvloop")
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        *UVLOOP_TESTS,
        *session.posargs,
        env={"OPAY_TESTS_LOOP": "uvloop"},
    )


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff: lint and format check."""
    _install_group(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typing(session: nox.Session) -> None:
    """mypy --strict and pyright strict on the package and on code using its public API."""
    session.install("-e", ".[aiohttp,cli,simulator,otel]")
    _install_group(session, "typing", "tests")
    # tests/typing uses the API the way the docs do: users' type checkers see this.
    session.run("mypy", "--strict", "opay_async", "tests/typing")
    session.run("pyright", "opay_async", "tests/typing")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site (mkdocs --strict) and check the pages as built.

    ``nox -s docs -- serve`` serves the site on http://127.0.0.1:8000 instead, rebuilt on
    every change (further arguments go to ``mkdocs serve``: ``--dev-addr 127.0.0.1:8001``).
    """
    session.install("-e", ".")
    _install_group(session, "docs", "tests")
    quiet = {"NO_MKDOCS_2_WARNING": "1"}
    if session.posargs[:1] == ["serve"]:
        address = [] if "--dev-addr" in session.posargs else ["--dev-addr", "127.0.0.1:8000"]
        session.run("mkdocs", "serve", "--strict", *address, *session.posargs[1:], env=quiet)
        return
    # tests/test_site.py builds the site once and reads it: raw roles, examples rendered
    # as prose, broken links and anchors, empty pages, names wrapping in tables, internal
    # references; with Chromium installed, it lays the pages out at 1280 px too.
    session.run(
        "pytest", "-p", "no:cacheprovider", "tests/test_site.py", *session.posargs, env=quiet
    )


@nox.session(python="3.11")
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel; install each in a clean venv and smoke-test it there."""
    session.install("build")
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    smoke = Path("tests/packaging/smoke.py").resolve()
    for artifact in (*dist.glob("*.whl"), *dist.glob("*.tar.gz")):
        venv = tmp / ("venv-wheel" if artifact.suffix == ".whl" else "venv-sdist")
        shutil.rmtree(venv, ignore_errors=True)
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        session.run(python, "-m", "pip", "install", "-q", f"{artifact}[cli]", external=True)
        with session.chdir(tmp):  # away from the checkout: import what was installed
            session.run(python, str(smoke), external=True)


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks against raw httpx2, httpx and aiohttp (not part of the default run).

    The venv holds what users install (this checkout as a wheel, with the aiohttp extra,
    never editable) plus the ``bench`` group: legacy httpx for the raw httpx contender
    and matplotlib for the chart. ``nox -s bench -- --quick`` passes options to
    ``benchmarks/bulk_close.py``; ``nox -s bench -- benchmarks/single_close.py --n 3000``
    runs another script.
    """
    session.install(".[aiohttp]")
    # pip keeps an installed project of the same version: install this checkout's code anew.
    session.install("--no-deps", "--force-reinstall", ".")
    _install_group(session, "bench")
    args = list(session.posargs)
    script = "benchmarks/bulk_close.py"
    if args and args[0].endswith(".py"):
        script = args.pop(0)
    session.run("python", script, *args)


@nox.session(python="3.11", default=False)
def bench_otel(session: nox.Session) -> None:
    """CPU per close without OpenTelemetry, with the API alone, and with the SDK exporting.

    A venv of its own (the ``bench`` venv holds what users install without the ``otel``
    extra): this checkout as a wheel with the ``otel`` extra, and ``opentelemetry-sdk``.
    ``nox -s bench_otel -- --rounds 9`` passes options to ``benchmarks/otel_overhead.py``.
    """
    session.install(".[otel]", "opentelemetry-sdk>=1.30")
    session.install("--no-deps", "--force-reinstall", ".")
    session.run("python", "benchmarks/otel_overhead.py", *session.posargs)


@nox.session(python="3.11", default=False)
def mutants(session: nox.Session) -> None:
    """Mutation testing (mutmut) of the modules carrying the promises (not in the default run).

    The modules mutated and the tests run are listed in pyproject.toml's
    ``[tool.mutmut]``. ``nox -s mutants -- "opay_async._errors*"`` runs one module's
    mutants only; the surviving ones are listed at the end (``mutmut show NAME`` in the
    session's venv shows one). Results are cached in ``mutants/``: a second run tests only
    what changed.
    """
    session.install("-e", ".[aiohttp,cli,simulator,otel]")
    _install_group(session, "tests", "mutants")
    workers = str(max(1, (os.cpu_count() or 2)))
    session.run("mutmut", "run", "--max-children", workers, *session.posargs)
    session.run("mutmut", "results")


@nox.session(python="3.11", default=False)
def clean(session: nox.Session) -> None:
    """Remove build and coverage leftovers."""
    for path in (".coverage", "htmlcov", "dist", "site", "mutants"):
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
