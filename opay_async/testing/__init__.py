"""Test helpers: an OPay simulator, and retries that do not sleep.

``FakeOPay`` behaves like OPay's Cancel Payment API, in process: it checks merchant id
and signatures, keeps payments, and injects faults. Reach it through ``fake.client()``
(an ``OPayClient`` wired to it), ``fake.transport`` (an httpx transport), ``fake.app``
(an ASGI app) or ``fake.serve()`` (real HTTP on loopback, with the ``simulator`` extra).

With pytest, the ``opay_fake`` and ``opay_instant_retries`` fixtures come with the
package.

Example:
    ```python
    from opay_async.testing import FakeOPay

    fake = FakeOPay()
    fake.add_payment(reference="SHOP-1", country="EG")
    async with fake.client() as opay:
        await opay.close_payment(reference="SHOP-1", country="EG")
    assert fake.payment(reference="SHOP-1").is_closed
    ```
"""

from ._asgi import ASGIApp
from ._clock import VirtualClock, instant_retries
from ._fake import (
    ALREADY_PAID_CODE,
    DEFAULT_MERCHANT_ID,
    DEFAULT_SECRET_KEY,
    FakeOPay,
    Reply,
    SeenRequest,
)
from ._faults import Fault, FaultKind
from ._transport import FakeTransport

__all__ = [
    "ALREADY_PAID_CODE",
    "DEFAULT_MERCHANT_ID",
    "DEFAULT_SECRET_KEY",
    "ASGIApp",
    "FakeOPay",
    "FakeTransport",
    "Fault",
    "FaultKind",
    "Reply",
    "SeenRequest",
    "VirtualClock",
    "instant_retries",
]
