"""The JSON-lines results file of ``close-many``: one line per input, flushed as it comes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from .._errors import OPayAPIError, OPayHTTPError

if TYPE_CHECKING:
    from .._outcome import CloseOutcome

__all__ = ["already_closed", "outcome_record", "write_record"]


def outcome_record(outcome: CloseOutcome, row: int) -> dict[str, Any]:
    """The JSON object written for ``outcome`` (``row`` is its 1-based input row).

    Keys: ``row``, ``reference``, ``order_no``, ``country``, ``ok``, ``order_status``,
    ``error_code``, ``error``, ``attempts``. ``error_code`` is OPay's code for a business
    error, ``HTTP <status>`` for an HTTP failure, else the error's class name.
    """
    request, payment, error = outcome.request, outcome.payment, outcome.error
    reference = request.reference if request else error.reference if error else None
    order_no = request.order_no if request else error.order_no if error else None
    if payment is not None:
        reference = reference or payment.reference
        order_no = order_no or payment.order_no
    code: str | None = None
    if isinstance(error, OPayAPIError):
        code = error.code
    elif isinstance(error, OPayHTTPError):
        code = f"HTTP {error.status_code}"
    elif error is not None:
        code = type(error).__name__
    return {
        "row": row,
        "reference": reference,
        "order_no": order_no,
        "country": request.country if request else None,
        "ok": outcome.ok,
        "order_status": payment.raw_order_status if payment else None,
        "error_code": code,
        "error": error.message if error else None,
        "attempts": outcome.attempts,
    }


def write_record(stream: TextIO, record: dict[str, Any]) -> None:
    """Write ``record`` as one JSON line and flush it, so a killed run loses nothing."""
    stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    stream.flush()


def already_closed(path: str) -> tuple[set[str], set[str]]:
    """References and order numbers an earlier run's output file shows as closed.

    Lines that are not complete JSON objects (a run killed mid-write) are ignored.
    """
    references: set[str] = set()
    order_numbers: set[str] = set()
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or record.get("order_status") != "CLOSE":  # pyright: ignore[reportUnknownMemberType]
                continue
            reference, order_no = record.get("reference"), record.get("order_no")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            if isinstance(reference, str):
                references.add(reference)
            if isinstance(order_no, str):
                order_numbers.add(order_no)
    return references, order_numbers
