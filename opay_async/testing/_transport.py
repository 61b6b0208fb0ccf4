"""``FakeTransport``: a responder behind an ``httpx2`` transport, in process."""

from __future__ import annotations

import httpx2

from ._faults import FaultKind
from ._reply import Responder

__all__ = ["FakeTransport"]


class FakeTransport(httpx2.AsyncBaseTransport):
    """Answers ``httpx2`` requests with a responder (such as ``FakeOPay.respond``), any host.

    The shape of ``httpx2.MockTransport(handler)``: ``respond(method, path, headers,
    body)`` returns a ``Reply``. A dropped connection raises ``httpx2.RemoteProtocolError``
    and a timeout raises ``httpx2.ReadTimeout`` at once (after the simulator's latency),
    as httpx2's own transport would after waiting.

    Args:
        respond: The responder that answers each request.

    Examples:
        ```python
        fake = FakeOPay()
        async with httpx2.AsyncClient(transport=FakeTransport(fake.respond)) as http:
            opay = OPayClient(fake.merchant_id, fake.secret_key, http_client=http)
        ```
    """

    def __init__(self, respond: Responder) -> None:
        self.respond = respond

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer ``request`` with the responder."""
        body = await request.aread()
        reply = await self.respond(request.method, request.url.path, request.headers, body)
        if reply.fault is FaultKind.DROP:
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if reply.fault is FaultKind.TIMEOUT:
            raise httpx2.ReadTimeout("The read operation timed out", request=request)
        return httpx2.Response(
            reply.status,
            headers=[("content-type", reply.content_type), *reply.headers],
            content=reply.body,
            request=request,
        )
