"""The ``opay-async`` command: close one payment, close many from a file, run the simulator.

Credentials come from ``OPAY_MERCHANT_ID`` / ``OPAY_SECRET_KEY`` (or ``--merchant-id`` and
``--secret-key-file``), never from a command-line value, which would show in ``ps``.
Exit codes: 0 all closed, 1 some not closed, 2 usage or configuration error (one line on
stderr, no traceback), 4 ``close-many`` stopped on a failure no later request could fix
(a refused key), 130 interrupted.

The parts: ``_parser`` (the command line), ``_config`` (the client, from the environment
and the flags), one module per command (``_close``, ``_close_many``, ``_simulate``), and
for ``close-many`` its input (``_input``, read in a thread by ``_feed``), its results file
(``_output``) and what it shows a person (``_report``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import io
import logging
import sys
from collections.abc import Sequence

from .._install import install_hint
from ._exit import EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from ._parser import build_parser
from ._text import PrintableFormatter, printable

__all__ = ["main"]


def _log_verbosely() -> None:
    """``-v``: every line of the SDK's loggers (``opay_async.*``) on stderr, warnings of others.

    The HTTP engines log each socket operation at ``DEBUG`` and each request at ``INFO``
    (``httpcore2.*``, ``httpx2``, ``hpack``, ``aiohttp.*``, ``asyncio``, uvicorn's):
    hundreds of lines a second in a bulk run, drowning the one line per attempt the
    ``opay_async`` loggers write. Their warnings and errors still show.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logging.getLogger("opay_async").setLevel(logging.DEBUG)


def _require_cli_extra() -> None:
    if importlib.util.find_spec("rich") is None:
        raise UsageError(f"the opay-async command needs the cli extra: {install_hint('cli')}")


def _run(args: argparse.Namespace) -> int:
    if args.command == "simulate":
        from ._simulate import simulate  # noqa: PLC0415 (each command loads what it needs)

        return simulate(args)
    _require_cli_extra()
    if args.command == "close":
        from ._close import close  # noqa: PLC0415

        return asyncio.run(close(args))
    from ._close_many import close_many  # noqa: PLC0415 (imports rich)

    return close_many(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``opay-async`` command; returns its exit code.

    Examples:
        >>> main(["close-many", "no-such-file.csv", "--simulate"])
        2
    """
    args = build_parser().parse_args(argv)
    stdout: object = sys.stdout
    if isinstance(stdout, io.TextIOWrapper):  # a value it cannot encode is escaped
        stdout.reconfigure(errors="backslashreplace")
    if args.verbose:
        _log_verbosely()
    try:
        return _run(args)
    except UsageError as error:
        print(f"opay-async: error: {printable(str(error), limit=1000)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("opay-async: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
