"""The ``opay-async`` command: close one payment, close many from a file, run the simulator.

Credentials come from ``OPAY_MERCHANT_ID`` / ``OPAY_SECRET_KEY`` (or ``--merchant-id`` and
``--secret-key-file``), never from a command-line value, which would show in ``ps``.
Exit codes: 0 all closed, 1 some not closed, 2 usage or configuration error, 130
interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TextIO

from .._client import OPayClient
from .._environment import check_environment
from .._errors import OPayError, OPayValidationError
from .._retry import RetryPolicy
from .._version import __version__
from ._input import count_rows, read_rows
from ._output import already_closed, outcome_record, write_record

if TYPE_CHECKING:
    from .._outcome import CloseOutcome

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_NOT_ALL_CLOSED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

#: Transient 50003 answers the built-in simulator gives, to show retries at work.
SIMULATED_FAULT_RATE: Final = 0.03


class UsageError(Exception):
    """A problem with the command line or the configuration: exit 2, one line, no traceback."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
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
    tuning.add_argument("--timeout", type=float, default=30.0, help="seconds per attempt")
    tuning.add_argument("--attempts", type=int, default=4, help="tries per payment (1: none)")
    tuning.add_argument("-v", "--verbose", action="store_true", help="log every attempt")

    parser = argparse.ArgumentParser(
        prog="opay-async",
        description="Cancel OPay checkout payments.",
        epilog="Exit codes: 0 all closed, 1 some not closed, 2 usage error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"opay-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    close = commands.add_parser("close", parents=[common], help="close one payment")
    ident = close.add_mutually_exclusive_group(required=True)
    ident.add_argument("--reference", help="merchant order number")
    ident.add_argument("--order-no", help="OPay order number")
    close.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. EG")
    close.add_argument("--json", action="store_true", help="print the result as JSON")

    many = commands.add_parser(
        "close-many",
        parents=[common],
        help="close every payment listed in a file",
        description="FILE is CSV with a header (reference and/or orderNo, optional country) "
        "or one reference per line; '-' reads standard input.",
    )
    many.add_argument("file", metavar="FILE")
    many.add_argument("--country", help="country of rows that name none")
    many.add_argument("--concurrency", type=int, default=10, help="requests in flight (10)")
    many.add_argument("--rate", type=float, help="request attempts per second at most")
    many.add_argument(
        "--output", default="-", metavar="FILE", help="JSON lines results file ('-': stdout)"
    )
    mode = many.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume", action="store_true", help="skip rows the output file shows closed; append"
    )
    mode.add_argument("--force", action="store_true", help="overwrite an existing output file")

    simulate = commands.add_parser(
        "simulate", help="serve the OPay simulator over HTTP (needs opay-async[simulator])"
    )
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8000)
    simulate.add_argument("--merchant-id", help="merchant id it accepts")
    simulate.add_argument("--secret-key-file", metavar="FILE", help="secret key it checks")
    simulate.add_argument(
        "--strict",
        action="store_true",
        help="answer 02006 for unknown payments instead of creating them",
    )
    simulate.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def _secret_key(path: str | None) -> str | None:
    if path is None:
        return os.environ.get("OPAY_SECRET_KEY") or None
    try:
        with open(path, encoding="utf-8") as stream:
            key = stream.read().strip()
    except OSError as error:
        raise UsageError(f"cannot read --secret-key-file: {error.strerror}") from None
    if not key:
        raise UsageError("--secret-key-file is empty")
    return key


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Generator[OPayClient, None, None]:
    options: dict[str, Any] = {
        "timeout": args.timeout,
        "retry": RetryPolicy(attempts=args.attempts),
    }
    try:
        if args.simulate:
            from ..testing import FakeOPay  # noqa: PLC0415 (only for --simulate)

            fake = FakeOPay(auto_create=True)
            fake.set_fault_rates(service_unavailable=SIMULATED_FAULT_RATE, seed=2026)
            fake.set_latency(0.005, 0.04)
            yield fake.client(**options)
            return
        merchant_id = args.merchant_id or os.environ.get("OPAY_MERCHANT_ID")
        secret_key = _secret_key(args.secret_key_file)
        if not merchant_id:
            raise UsageError("missing merchant id: set OPAY_MERCHANT_ID or pass --merchant-id")
        if not secret_key:
            raise UsageError(
                "missing secret key: set OPAY_SECRET_KEY or pass --secret-key-file FILE "
                "(or try --simulate)"
            )
        environment = args.environment or os.environ.get("OPAY_ENVIRONMENT") or "sandbox"
        yield OPayClient(
            merchant_id,
            secret_key,
            environment=check_environment(environment.strip().lower()),
            base_url=args.base_url or os.environ.get("OPAY_BASE_URL") or None,
            **options,
        )
    except (OPayError, ValueError) as error:
        raise UsageError(str(error)) from None


async def _close(args: argparse.Namespace) -> int:
    with _client(args) as client:
        async with client:
            try:
                payment = await client.close_payment(
                    reference=args.reference, order_no=args.order_no, country=args.country
                )
            except OPayValidationError as error:
                raise UsageError(str(error)) from None
            except OPayError as error:
                if args.json:
                    print(json.dumps({"ok": False, "error": str(error)}))
                else:
                    print(f"opay-async: {type(error).__name__}: {error}", file=sys.stderr)
                return EXIT_NOT_ALL_CLOSED
    amount = f"{payment.amount.total} {payment.amount.currency}" if payment.amount else "-"
    if args.json:
        record = {
            "ok": True,
            "reference": payment.reference,
            "order_no": payment.order_no,
            "country": payment.country,
            "amount": amount,
            "order_status": payment.raw_order_status,
        }
        print(json.dumps(record, ensure_ascii=False))
    else:
        print(
            f"{payment.raw_order_status} reference={payment.reference} "
            f"order_no={payment.order_no} country={payment.country} amount={amount}"
        )
    return EXIT_OK if payment.is_closed else EXIT_NOT_ALL_CLOSED


def _open_output(args: argparse.Namespace) -> tuple[TextIO, set[str], set[str]]:
    if args.output == "-":
        if args.resume:
            raise UsageError("--resume needs --output FILE")
        return sys.stdout, set(), set()
    if args.resume and os.path.exists(args.output):
        references, order_numbers = already_closed(args.output)
        return open(args.output, "a", encoding="utf-8"), references, order_numbers
    if os.path.exists(args.output) and not args.force and not args.resume:
        raise UsageError(f"{args.output} exists: pass --resume to continue it or --force")
    return open(args.output, "w", encoding="utf-8"), set(), set()


def _close_many(args: argparse.Namespace) -> int:
    from rich.console import Console  # noqa: PLC0415 (the cli extra)

    from ._report import Tally  # noqa: PLC0415

    if args.file != "-" and not os.path.isfile(args.file):
        raise UsageError(f"no such file: {args.file}")
    console = Console(stderr=True)
    tally = Tally(console, count_rows(args.file))
    with _client(args) as client, contextlib.ExitStack() as files:
        output, closed_refs, closed_orders = _open_output(args)
        if output is not sys.stdout:
            files.callback(output.close)
        source = sys.stdin
        if args.file != "-":
            source = files.enter_context(open(args.file, encoding="utf-8-sig", newline=""))
        rows = _numbered(read_rows(source), closed_refs, closed_orders, tally)
        with tally:
            interrupted = asyncio.run(_run_many(args, client, rows, output, tally))
    console.print(tally.summary(interrupted=interrupted))
    if interrupted:
        console.print(
            f"interrupted: {tally.done} rows written to {args.output}; "
            "run again with --resume to continue"
        )
        return EXIT_INTERRUPTED
    return EXIT_OK if tally.all_closed else EXIT_NOT_ALL_CLOSED


async def _run_many(
    args: argparse.Namespace,
    client: OPayClient,
    rows: Iterator[tuple[int, dict[str, str]]],
    output: TextIO,
    tally: Any,
) -> bool:
    """Close every row, writing each outcome as it comes; ``True`` if interrupted."""
    numbers: dict[int, int] = {}
    stream = client.iter_close_many(
        _remember(_in_thread(rows), numbers),
        country=args.country,
        concurrency=args.concurrency,
        rate_limit=args.rate,
    )
    try:
        async with client, contextlib.aclosing(stream):  # type: ignore[type-var]
            async for outcome in stream:
                _record(output, outcome, numbers, tally)
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task
        return True
    return False


async def _in_thread(
    rows: Iterator[tuple[int, dict[str, str]]], batch: int = 256
) -> AsyncIterator[tuple[int, dict[str, str]]]:
    """Read ``rows`` in a worker thread, a batch at a time, so a slow pipe never blocks."""
    while chunk := await asyncio.to_thread(lambda: list(itertools.islice(rows, batch))):
        for row in chunk:
            yield row


def _numbered(
    rows: Iterator[dict[str, str]], references: set[str], order_numbers: set[str], tally: Any
) -> Iterator[tuple[int, dict[str, str]]]:
    for number, row in enumerate(rows, start=1):
        if row.get("reference") in references or (
            not row.get("reference") and row.get("order_no") in order_numbers
        ):
            tally.skipped += 1
            continue
        yield number, row


async def _remember(
    rows: AsyncIterator[tuple[int, dict[str, str]]], numbers: dict[int, int]
) -> AsyncIterator[dict[str, str]]:
    """Feed the rows on, noting each one's input row number under its bulk index.

    Entries are removed as outcomes are written, so this holds only rows in flight.
    """
    index = 0
    async for number, row in rows:
        numbers[index] = number
        index += 1
        yield row


def _record(output: TextIO, outcome: CloseOutcome, numbers: dict[int, int], tally: Any) -> None:
    write_record(output, outcome_record(outcome, numbers.pop(outcome.index)))
    tally.add(outcome)


def _simulate(args: argparse.Namespace) -> int:
    from ..testing import FakeOPay  # noqa: PLC0415

    options: dict[str, Any] = {"auto_create": not args.strict}
    if args.merchant_id:
        options["merchant_id"] = args.merchant_id
    secret_key = _secret_key(args.secret_key_file)
    if secret_key:
        options["secret_key"] = secret_key
    try:
        fake = FakeOPay(**options)
    except (OPayError, ValueError) as error:
        raise UsageError(str(error)) from None

    async def serve() -> None:
        async with fake.serve(host=args.host, port=args.port) as base_url:
            key = "from OPAY_SECRET_KEY / --secret-key-file" if secret_key else "the default"
            print(
                f"OPay simulator on {base_url} (merchant id {fake.merchant_id}, "
                f"secret key: {key}); Ctrl-C stops it",
                flush=True,
            )
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(serve())
    return EXIT_OK


def _require_cli_extra() -> None:
    if importlib.util.find_spec("rich") is None:
        raise UsageError(
            "the opay-async command needs the cli extra: pip install 'opay-async[cli]'"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``opay-async`` command; returns its exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("httpcore").setLevel(logging.INFO)
    try:
        if args.command == "simulate":
            return _simulate(args)
        _require_cli_extra()
        if args.command == "close":
            return asyncio.run(_close(args))
        return _close_many(args)
    except UsageError as error:
        print(f"opay-async: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("opay-async: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
