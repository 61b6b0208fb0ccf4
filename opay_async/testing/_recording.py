"""What the simulator recorded: ``SeenRequest`` values in a bounded ``RequestLog``.

Each record is bounded too, whatever the request: its body is kept to
``MAX_RECORDED_BODY`` bytes, its parsed JSON to ``MAX_RECORDED_DEPTH`` levels and about
as many characters as the body, and its headers to ``MAX_RECORDED_HEADER`` characters;
a record that was cut says so (``truncated``). So the listing of what was recorded can
always be encoded (a body nested 970 levels deep once broke it) and stays small (1 MB
bodies once made it 115 MB).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from .._repr import SafeRepr
from .._validation import number
from ._faults import FaultKind
from ._reply import Reply

__all__ = [
    "MAX_RECORDED_BODY",
    "MAX_RECORDED_DEPTH",
    "MAX_RECORDED_HEADER",
    "RequestLog",
    "SeenRequest",
    "bounded_json",
]

#: The bytes of a request body kept in its record (a close request is about 100).
MAX_RECORDED_BODY: Final = 4096
#: The levels of nesting of a parsed body kept in its record (a close request has 1).
MAX_RECORDED_DEPTH: Final = 16
#: The characters of a header value kept in its record (a signature header is 135).
MAX_RECORDED_HEADER: Final = 1024
#: What stands for a part of a parsed body that was cut.
CUT: Final = "[truncated]"


@attrs.frozen(kw_only=True, repr=False)
class SeenRequest(SafeRepr):
    """A request the simulator received, recorded in ``FakeOPay.requests``.

    Attributes:
        method: The HTTP method.
        path: The URL path.
        merchant_id: The ``MerchantId`` header, if any.
        authorization: The ``Authorization`` header, if any (not shown in ``repr``).
        content_type: The ``Content-Type`` header, if any.
        body: The raw body bytes (the first 4096 when longer: see ``truncated``).
        json: The body parsed as a JSON object, or ``None`` when it is not one
            (nested 16 levels deep at most, about 4096 characters at most: see
            ``truncated``).
        verified: Whether the merchant id and the signature were right (recorded even
            when a fault answered the request).
        status: The HTTP status answered; 0 for a dropped connection or a timeout.
        code: OPay's ``code`` in the answer, if an OPay JSON answer was sent.
        fault: The injected fault, if one applied to this request.
        truncated: Whether the body, the parsed body or a header was too large or too
            deep to be recorded whole (what is kept is a valid prefix or copy).

    Examples:
        ```python
        seen = fake.requests[-1]
        assert seen.verified and seen.code == "00000"
        assert seen.reference == "SHOP-1"
        ```
    """

    method: str
    path: str
    merchant_id: str | None
    authorization: str | None = attrs.field(repr=False)
    content_type: str | None = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    json: dict[str, Any] | None = attrs.field(repr=False)
    verified: bool
    status: int
    code: str | None
    fault: FaultKind | None = None
    truncated: bool = False

    @property
    def reference(self) -> str | None:
        """The ``reference`` of the body, when it is a string."""
        return _text_field(self.json, "reference")

    @property
    def order_no(self) -> str | None:
        """The ``orderNo`` of the body, when it is a string."""
        return _text_field(self.json, "orderNo")

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record of the request, without its ``Authorization`` header.

        The body is given as text (bytes that are not UTF-8 are replaced), beside the
        parsed ``json``.
        """
        return {
            "method": self.method,
            "path": self.path,
            "merchant_id": self.merchant_id,
            "content_type": self.content_type,
            "verified": self.verified,
            "status": self.status,
            "code": self.code,
            "fault": None if self.fault is None else self.fault.value,
            "reference": self.reference,
            "order_no": self.order_no,
            "json": self.json,
            "body": self.body.decode("utf-8", "replace"),
            "truncated": self.truncated,
        }


def _text_field(payload: dict[str, Any] | None, name: str) -> str | None:
    value = None if payload is None else payload.get(name)
    return value if isinstance(value, str) else None


class RequestLog:
    """The latest ``limit`` requests (``None``: all of them, ``0``: none) and a count.

    Older entries are dropped in batches, so the list may briefly hold 10% more.
    """

    def __init__(self, limit: int | None) -> None:
        if limit is not None:
            limit = number("record_limit", limit, integer=True, at_least=0, at_most=10_000_000)
        self.requests: list[SeenRequest] = []
        self.count = 0
        self._limit = limit

    def reset(self) -> None:
        """Forget every request; the count starts again from 0."""
        self.requests.clear()
        self.count = 0

    def add(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        reply: Reply,
        payload: dict[str, Any] | None = None,
        verified: bool = False,
        fault: FaultKind | None = None,
    ) -> Reply:
        """Count the request, record it (within the limit); returns ``reply``."""
        self.count += 1
        if self._limit == 0:
            return reply
        kept = {name: headers.get(name) for name in ("merchantid", "authorization", "content-type")}
        json, cut = (None, False) if payload is None else bounded_json(payload)
        cut = cut or len(body) > MAX_RECORDED_BODY or len(path) > MAX_RECORDED_HEADER
        for name, value in kept.items():
            if value is not None and len(value) > MAX_RECORDED_HEADER:
                kept[name], cut = value[:MAX_RECORDED_HEADER], True
        requests = self.requests
        requests.append(
            SeenRequest(
                method=method[:MAX_RECORDED_HEADER],
                path=path[:MAX_RECORDED_HEADER],
                merchant_id=kept["merchantid"],
                authorization=kept["authorization"],
                content_type=kept["content-type"],
                body=body[:MAX_RECORDED_BODY],
                json=json,
                verified=verified,
                status=0 if reply.fault else reply.status,
                code=reply.code,
                fault=fault,
                truncated=cut,
            )
        )
        limit = self._limit
        if limit is not None and len(requests) > limit + max(limit // 10, 1):
            del requests[: len(requests) - limit]
        return reply


def bounded_json(
    payload: dict[str, Any], *, depth: int = MAX_RECORDED_DEPTH, size: int = MAX_RECORDED_BODY
) -> tuple[dict[str, Any], bool]:
    """A copy of ``payload`` at most ``depth`` levels deep and about ``size`` characters.

    Deeper containers become ``"[truncated]"``; once ``size`` characters of keys and
    values are copied, the rest of each container is left out and a long string is cut.
    Returns the copy and whether anything was cut.

    Examples:
        >>> bounded_json({"a": {"b": [1, 2]}}, depth=2)
        ({'a': {'b': '[truncated]'}}, True)
        >>> bounded_json({"reference": "A1", "note": "x" * 50}, size=20)
        ({'reference': 'A1', 'note': 'x'}, True)
    """
    bound = _Bound(size)
    copied: dict[str, Any] = {}
    for key, value in payload.items():  # the top level is always kept (depth >= 1)
        if not bound.spend(len(key) + 2):
            break
        copied[key] = bound.copy(value, depth - 1)
    return copied, bound.cut


class _Bound:
    """The state of one `bounded_json` copy: characters left, and whether it cut."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.cut = False

    def copy(self, value: Any, depth: int) -> Any:
        if isinstance(value, dict | list) and depth <= 0:
            self.cut = True
            return CUT
        if isinstance(value, dict):
            copied: dict[str, Any] = {}
            for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
                if not self.spend(len(key) + 2):  # pyright: ignore[reportUnknownArgumentType]
                    break
                copied[key] = self.copy(item, depth - 1)
            return copied
        if isinstance(value, list):
            items: list[Any] = []
            for item in value:  # pyright: ignore[reportUnknownVariableType]
                if not self.spend(1):
                    break
                items.append(self.copy(item, depth - 1))
            return items
        if isinstance(value, str):
            kept = value[: max(self.left, 0)]
            self.spend(len(value))
            return kept
        self.spend(8 if not isinstance(value, int) else value.bit_length() // 3 + 1)
        return value

    def spend(self, cost: int) -> bool:
        """Take ``cost`` characters; ``False`` (and mark the copy cut) when none were left."""
        if self.left <= 0:
            self.cut = True
            return False
        self.left -= cost
        if self.left < 0:
            self.cut = True
        return True
