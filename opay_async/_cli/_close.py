"""``opay-async close``: close one payment and print what OPay answered."""

from __future__ import annotations

import argparse
import sys

from .. import OPayError, OPayValidationError
from ._config import build_client
from ._exit import EXIT_NOT_ALL_CLOSED, EXIT_OK, UsageError
from ._text import json_line, printable

__all__ = ["close"]


def _show(line: str | bytes) -> None:
    """Print one line on standard output (a JSON line comes as bytes, already safe)."""
    print(line.decode().rstrip("\n") if isinstance(line, bytes) else line, flush=True)


async def close(args: argparse.Namespace) -> int:
    """Close the payment ``args`` name; print it (``--json``: as one JSON object).

    Returns:
        0 if the payment is closed, 1 if OPay answered an error or another status.

    Raises:
        UsageError: Bad configuration or arguments (nothing was sent).
    """
    async with build_client(args) as client:
        try:
            payment = await client.close_payment(
                reference=args.reference, order_no=args.order_no, country=args.country
            )
        except OPayValidationError as error:
            raise UsageError(str(error)) from None
        except OPayError as error:
            if args.json:
                _show(json_line({"ok": False, "error": str(error)}))
            else:
                shown = printable(f"{type(error).__name__}: {error}")
                print(f"opay-async: {shown}", file=sys.stderr)
            return EXIT_NOT_ALL_CLOSED
    amount = payment.amount
    if args.json:
        known = amount is not None and amount.exponent is not None
        record = {
            "ok": payment.is_closed,
            "reference": payment.reference,
            "order_no": payment.order_no,
            "country": payment.country,
            "order_status": payment.raw_order_status,
            "amount_minor": amount.total if amount else None,
            "amount_major": str(amount.major_units()) if amount and known else None,
            "currency": amount.currency if amount else None,
        }
        _show(json_line(record))
    else:
        _show(
            printable(
                f"{payment.raw_order_status} reference={payment.reference} "
                f"order_no={payment.order_no} country={payment.country} "
                f"amount={amount or '-'}",
                limit=1000,
            )
        )
    return EXIT_OK if payment.is_closed else EXIT_NOT_ALL_CLOSED
