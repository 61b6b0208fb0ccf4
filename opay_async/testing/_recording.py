"""What the simulator recorded: ``SeenRequest`` values in a bounded ``RequestLog``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._repr import SafeRepr
from .._validation import number
from ._faults import FaultKind
from ._reply import Reply

__all__ = ["RequestLog", "SeenRequest"]


@attrs.frozen(kw_only=True, repr=False)
class SeenRequest(SafeRepr):
    """A request the simulator received, recorded in ``FakeOPay.requests``.

    Attributes:
        method: The HTTP method.
        path: The URL path.
        merchant_id: The ``MerchantId`` header, if any.
        authorization: The ``Authorization`` header, if any (not shown in ``repr``).
        content_type: The ``Content-Type`` header, if any.
        body: The raw body bytes.
        json: The body parsed as a JSON object, or ``None`` when it is not one.
        verified: Whether the merchant id and the signature were right (recorded even
            when a fault answered the request).
        status: The HTTP status answered; 0 for a dropped connection or a timeout.
        code: OPay's ``code`` in the answer, if an OPay JSON answer was sent.
        fault: The injected fault, if one applied to this request.

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
        requests = self.requests
        requests.append(
            SeenRequest(
                method=method,
                path=path,
                merchant_id=headers.get("merchantid"),
                authorization=headers.get("authorization"),
                content_type=headers.get("content-type"),
                body=body,
                json=payload,
                verified=verified,
                status=0 if reply.fault else reply.status,
                code=reply.code,
                fault=fault,
            )
        )
        limit = self._limit
        if limit is not None and len(requests) > limit + max(limit // 10, 1):
            del requests[: len(requests) - limit]
        return reply
