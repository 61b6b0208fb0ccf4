"""The command line of ``opay-async``: its commands, options, and the checks of their values.

Every number is checked here (a whole number in range, a finite number of seconds), so a
bad value ends the command at once with one line naming the option, before anything is
read or sent.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Final, NoReturn

from .. import OPayValidationError
from .._rate import MIN_RATE
from .._validation import country_code
from .._version import __version__
from ._exit import EXIT_USAGE
from ._text import printable

__all__ = ["MAX_CONCURRENCY", "build_parser"]

#: Requests in flight at most (the client's own pool opens 100 connections).
MAX_CONCURRENCY: Final = 1000
#: Tries per payment at most.
MAX_ATTEMPTS: Final = 20
#: Seconds one attempt may take at most.
MAX_TIMEOUT: Final = 3600.0
#: Attempts per second at most.
MAX_RATE: Final = 100_000.0


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        """Exit with code 2 and ``message`` on one line of stderr."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {printable(message)} (see --help)\n")


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting a whole number from ``low`` to ``high``.

    Examples:
        >>> whole_number(1, 100)("20")
        20
        >>> whole_number(1, 100)("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be a whole number from 1 to 100, got '0'
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}, got {printable(text, limit=40)!r}"
            )
        return value

    return parse


def positive_number(high: float, low: float = 0.0) -> Callable[[str], float]:
    """An argparse ``type`` accepting a finite number above 0 (at least ``low``), at most ``high``.

    Examples:
        >>> positive_number(60)("2.5")
        2.5
        >>> positive_number(60)("nan")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be a number above 0 and at most 60, got 'nan'
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 < value <= high and value >= low):
            least = f"at least {low:g}" if low else "above 0"
            raise argparse.ArgumentTypeError(
                f"must be a number {least} and at most {high:g}, got {printable(text, limit=40)!r}"
            )
        return value

    return parse


def country(text: str) -> str:
    """An argparse ``type`` accepting an ISO 3166-1 alpha-2 code, upper-cased.

    Examples:
        >>> country("eg")
        'EG'
    """
    try:
        return country_code(text.strip())
    except OPayValidationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def identifier(text: str) -> str:
    r"""An argparse ``type`` accepting a reference or order number: printable, not blank.

    Examples:
        >>> identifier(" SHOP-1 ")
        'SHOP-1'
        >>> identifier("SHOP\x1b[2J")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: an unprintable character (U+001B) in 'SHOP\x1b[2J'
    """
    value = text.strip()
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise argparse.ArgumentTypeError(
            f"an unprintable character (U+{ord(bad):04X}) in '{printable(value, limit=60)}'"
        )
    return value


def _read(reader: Callable[[str], object], text: str) -> object:
    try:
        return reader(text)
    except OPayValidationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def fault_rates(text: str) -> object:
    """An argparse ``type`` for ``--fault-rate``: the simulator's ``FaultRates.parse``."""
    from ..testing import FaultRates  # noqa: PLC0415 (only the simulate command needs it)

    return _read(FaultRates.parse, text)


def latency(text: str) -> object:
    """An argparse ``type`` for ``--latency``: the simulator's ``parse_latency``."""
    from ..testing import parse_latency  # noqa: PLC0415 (only the simulate command needs it)

    return _read(parse_latency, text)


def _common_options() -> _OneLineParser:
    common = _OneLineParser(add_help=False)
    where = common.add_argument_group("where and who")
    where.add_argument(
        "--environment",
        choices=["sandbox", "production"],
        help="OPay environment (default: $OPAY_ENVIRONMENT or sandbox)",
    )
    where.add_argument("--base-url", help="send every request here (default: $OPAY_BASE_URL)")
    where.add_argument("--merchant-id", help="merchant id (default: $OPAY_MERCHANT_ID)")
    where.add_argument(
        "--secret-key-file",
        metavar="FILE",
        help="file holding the secret key (default: $OPAY_SECRET_KEY)",
    )
    where.add_argument(
        "--simulate",
        action="store_true",
        help="run against the built-in OPay simulator: no account, no network",
    )
    tuning = common.add_argument_group("tuning")
    tuning.add_argument(
        "--timeout",
        type=positive_number(MAX_TIMEOUT),
        default=30.0,
        help="seconds per attempt (30)",
    )
    tuning.add_argument(
        "--attempts",
        type=whole_number(1, MAX_ATTEMPTS),
        default=4,
        help="tries per payment (4; 1: no retry)",
    )
    tuning.add_argument("-v", "--verbose", action="store_true", help="log every attempt")
    return common


def _close_options(close: argparse.ArgumentParser) -> None:
    ident = close.add_mutually_exclusive_group(required=True)
    ident.add_argument("--reference", type=identifier, help="merchant order number")
    ident.add_argument("--order-no", type=identifier, help="OPay order number")
    close.add_argument("--country", type=country, required=True, help="ISO 3166-1 alpha-2, e.g. EG")
    close.add_argument("--json", action="store_true", help="print the result as JSON")


def _close_many_options(many: argparse.ArgumentParser) -> None:
    many.add_argument("file", metavar="FILE")
    many.add_argument("--country", type=country, help="country of rows that name none")
    many.add_argument(
        "--concurrency",
        type=whole_number(1, MAX_CONCURRENCY),
        default=10,
        help="requests in flight (10)",
    )
    many.add_argument(
        "--rate",
        type=positive_number(MAX_RATE, low=MIN_RATE),
        help="request attempts per second at most",
    )
    many.add_argument(
        "--output", default="-", metavar="FILE", help="JSON lines results file ('-': stdout)"
    )
    mode = many.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume", action="store_true", help="skip rows the output file shows closed; append"
    )
    mode.add_argument("--force", action="store_true", help="overwrite an existing output file")
    many.add_argument(
        "--keep-going",
        action="store_true",
        help="send every row even after an answer no later request can change "
        "(02000, 02002, 02007, HTTP 401; by default the run stops sending there, exit 4)",
    )


def _simulate_options(simulate: argparse.ArgumentParser) -> None:
    simulate.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    simulate.add_argument(
        "--port",
        type=whole_number(0, 65535),
        default=8000,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    simulate.add_argument(
        "--merchant-id", help="merchant id it accepts (default: its own, in the banner)"
    )
    simulate.add_argument(
        "--secret-key-file",
        metavar="FILE",
        help="file holding the secret key it checks (default: its public made-up key)",
    )
    simulate.add_argument(
        "--strict",
        action="store_true",
        help="answer 02006 for unknown payments instead of creating them",
    )
    simulate.add_argument(
        "--fault-rate",
        metavar="RATES",
        type=fault_rates,
        help="random faults: 0.05 (of 50003 answers) or http_502=0.02,drop=0.01",
    )
    simulate.add_argument(
        "--latency",
        metavar="SECONDS",
        type=latency,
        help="answer after 0.05 s, or after 0.01-0.05 s at random",
    )
    simulate.add_argument("-v", "--verbose", action="store_true", help="log every request")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command, its three sub-commands included.

    Examples:
        >>> args = build_parser().parse_args(["close-many", "stale.csv", "--country", "EG"])
        >>> (args.command, args.file, args.concurrency, args.output)
        ('close-many', 'stale.csv', 10, '-')
    """
    parser = _OneLineParser(
        prog="opay-async",
        description="Cancel OPay checkout payments.",
        epilog="Exit codes: 0 all closed, 1 some not closed, 2 usage error, 4 stopped on a "
        "failure no later request could fix (a refused key), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"opay-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options()
    _close_options(commands.add_parser("close", parents=[common], help="close one payment"))
    _close_many_options(
        commands.add_parser(
            "close-many",
            parents=[common],
            help="close every payment listed in a file",
            description="FILE is CSV with a header (reference and/or orderNo, optional "
            "country) or one reference per line, in UTF-8; '-' reads standard input.",
        )
    )
    _simulate_options(
        commands.add_parser(
            "simulate",
            help="serve the OPay simulator over HTTP (needs the simulator extra)",
            description="Serve the OPay simulator (FakeOPay) over HTTP until Ctrl-C, for "
            "services in any language: it answers the Cancel Payment API and checks "
            "signatures like OPay, with an admin API under /_simulator/. Its banner says "
            "where it listens and prints the export line that points a client at it.",
        )
    )
    return parser
