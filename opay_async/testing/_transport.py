"""``FakeTransport``: a responder behind an ``httpx`` transport, in process."""

from __future__ import annotations

import httpx

from ._faults import FaultKind
from ._reply import Responder

__all__ = ["FakeTransport"]


class FakeTransport(httpx.AsyncBaseTransport):
    """Answers ``httpx`` requests with a responder (such as ``FakeOPay.respond``), any host.

    The shape of ``httpx.MockTransport(handler)``: ``respond(method, path, headers,
    body)`` returns a ``Reply``. A dropped connection raises ``httpx.RemoteProtocolError``
    and a timeout raises ``httpx.ReadTimeout`` at once (after the simulator's latency),
    as httpx's own transport would after waiting.

    Args:
        respond: The responder that answers each request.

    Examples:
        ```python
        fake = FakeOPay()
        async with httpx.AsyncClient(transport=FakeTransport(fake.respond)) as http:
            opay = OPayClient(fake.merchant_id, fake.secret_key, http_client=http)
        ```
    """

    def __init__(self, respond: Responder) -> None:
        self.respond = respond

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` with the responder."""
        body = await request.aread()
        reply = await self.respond(request.method, request.url.path, request.headers, body)
        if reply.fault is FaultKind.DROP:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if reply.fault is FaultKind.TIMEOUT:
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        return httpx.Response(
            reply.status,
            headers=[("content-type", reply.content_type), *reply.headers],
            content=reply.body,
            request=request,
        )
