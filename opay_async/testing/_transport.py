"""``FakeTransport``: the simulator behind an ``httpx`` transport, in process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from ._faults import FaultKind

if TYPE_CHECKING:
    from ._fake import FakeOPay

__all__ = ["FakeTransport"]


class FakeTransport(httpx.AsyncBaseTransport):
    """Answers ``httpx`` requests from a :class:`FakeOPay`, whatever the host.

    A dropped connection raises ``httpx.RemoteProtocolError`` and a timeout raises
    ``httpx.ReadTimeout`` at once (after the simulator's latency), as httpx's own
    transport would after waiting.

    Example:
        ```python
        fake = FakeOPay()
        async with httpx.AsyncClient(transport=fake.transport) as http:
            opay = OPayClient(fake.merchant_id, fake.secret_key, http_client=http)
        ```
    """

    def __init__(self, fake: FakeOPay) -> None:
        self.fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the simulator."""
        body = await request.aread()
        reply = await self.fake.respond(request.method, request.url.path, request.headers, body)
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
