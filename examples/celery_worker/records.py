"""Records for references a chunk did not close itself: its worker died, or its task failed.

They have the shape of ``CloseOutcome.to_record()`` (a ``CloseRecord``), so a results
file holds one kind of line: ``ok`` false, ``retryable`` true, ``attempts`` 0 (how many
requests went out before the failure is not known), and an ``error`` saying what happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opay_async import CloseRecord

__all__ = ["Item", "failed_records"]

#: One item of a chunk, as JSON carries it: a reference, or a row such as
#: ``{"reference": "SHOP-1", "country": "EG"}`` (``order_no`` or ``orderNo`` too).
Item = str | dict[str, str]


def _field(item: Item, *names: str) -> str | None:
    if not isinstance(item, Mapping):
        return None
    for name in names:
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def failed_records(
    items: Sequence[Item],
    indexes: Sequence[int],
    *,
    country: str | None,
    error_type: str,
    error: str,
) -> list[CloseRecord]:
    """One failed record per item, at its index, saying ``error``.

    Examples:
        >>> [record] = failed_records(["SHOP-1"], [7], country="EG",
        ...     error_type="WorkerLostError", error="the worker died")
        >>> record["index"], record["reference"], record["ok"], record["retryable"]
        (7, 'SHOP-1', False, True)
    """
    records: list[CloseRecord] = []
    for item, index in zip(items, indexes, strict=True):
        records.append(
            {
                "index": index,
                "reference": item if isinstance(item, str) else _field(item, "reference"),
                "order_no": _field(item, "order_no", "orderNo"),
                "country": _field(item, "country") or country,
                "ok": False,
                "order_status": None,
                "amount_minor": None,
                "amount_major": None,
                "currency": None,
                "error_type": error_type,
                "error_code": None,
                "error": error,
                "retryable": True,
                "attempts": 0,
            }
        )
    return records
