"""Records for references a chunk did not close itself: its worker died, its task failed, or
the run stopped on a dead key before sending them.

They have the shape of ``CloseOutcome.to_record()`` (a ``CloseRecord``), so a results
file holds one kind of line: ``ok`` false, ``retryable`` true, ``attempts`` 0 (how many
requests went out before the failure is not known), and an ``error`` saying what happened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from opay_async import CloseRecord

__all__ = ["FATAL_CODES", "Item", "StopMark", "failed_records", "sent_again"]

#: The ``error_code`` of the failures no later request can change until the merchant fixes
#: something (``OPayError.fatal``): the key refused (02000, HTTP 401), the merchant not
#: configured (02002) or not available (02007).
FATAL_CODES: Final = frozenset({"02000", "02002", "02007", "HTTP 401"})
#: The longest stop mark read: one record's fields, well under 2 KB.
_MAX_MARK: Final = 16 * 1024

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


def sent_again(record: Mapping[str, object]) -> bool:
    """Whether ``--resume`` sends ``record``'s item again: not sent, or refused by a dead key.

    Examples:
        >>> sent_again({"ok": False, "error_type": "RunStoppedError", "error_code": None})
        True
        >>> sent_again({"ok": False, "error_type": "AuthenticationError", "error_code": "02000"})
        True
        >>> sent_again({"ok": False, "error_type": "PaymentNotFoundError", "error_code": "02006"})
        False
    """
    if record.get("ok") is not False:
        return False
    return record.get("error_type") == "RunStoppedError" or record.get("error_code") in FATAL_CODES


@dataclass(frozen=True)
class StopMark:
    """What stopped a run: the first fatal failure a chunk met, and where.

    Stored in the result backend by the chunk that met it; every later chunk of the run,
    and the producer, read it before sending anything.

    Examples:
        >>> mark = StopMark.parse(StopMark("AuthenticationError", "02000", 512).dumps())
        >>> mark.reason
        'AuthenticationError [02000] at index 512'
        >>> StopMark.parse(b"not ours").reason
        'a fatal failure at an unknown index'
    """

    error_type: str | None
    error_code: str | None
    index: int | None

    @classmethod
    def of(cls, record: CloseRecord) -> StopMark:
        """The mark of a fatal failure's record."""
        return cls(record["error_type"], record["error_code"], record["index"])

    @classmethod
    def parse(cls, stored: object) -> StopMark:
        """A mark read back; what cannot be read still stops the run, for reasons unknown."""
        if not isinstance(stored, str | bytes) or len(stored) > _MAX_MARK:
            return cls(None, None, None)
        try:
            fields = json.loads(stored)
            error_type, code, index = fields["error_type"], fields["error_code"], fields["index"]
        except (ValueError, TypeError, KeyError):
            return cls(None, None, None)

        def text(value: object) -> str | None:  # short and printable, or nothing
            return value if isinstance(value, str) and value.isprintable() else None

        return cls(
            text(error_type) and error_type[:60],
            text(code) and code[:20],
            index if isinstance(index, int) and not isinstance(index, bool) else None,
        )

    def dumps(self) -> str:
        """The mark as stored."""
        return json.dumps(
            {"error_type": self.error_type, "error_code": self.error_code, "index": self.index}
        )

    @property
    def reason(self) -> str:
        """What stopped the run, in words."""
        what = self.error_type or "a fatal failure"
        if self.error_code:
            what += f" [{self.error_code}]"
        where = "an unknown index" if self.index is None else f"index {self.index}"
        return f"{what} at {where}"

    def not_sent(
        self, items: Sequence[Item], indexes: Sequence[int], country: str | None
    ) -> list[CloseRecord]:
        """``RunStoppedError`` records for items the run did not send."""
        return failed_records(
            items,
            indexes,
            country=country,
            error_type="RunStoppedError",
            error=f"not sent: the run stopped on {self.reason}, which no later request "
            "could change; fix it and run again with --resume",
        )
