"""Test helpers: an in-process OPay simulator, and retries that do not sleep.

:class:`FakeOPay` behaves like OPay's Cancel Payment API, in process: it checks the
merchant id and the signature of every request, keeps payments and their states, and
injects faults on demand. Reach it through ``fake.client()`` (an ``OPayClient`` wired to
it), ``fake.transport`` (an ``httpx`` transport), ``fake.app`` (a plain ASGI 3 app) or
``fake.serve()`` (real HTTP on loopback, with the ``simulator`` extra).

:func:`instant_retries` puts the SDK on a virtual clock, so retry waits return at once.

With pytest, the package's plugin gives the fixtures ``opay_fake``, ``opay_client`` and
``opay_instant_retries``. Importing this module does not import pytest.

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
    ALREADY_PAID_MESSAGE,
    DEFAULT_MERCHANT_ID,
    DEFAULT_SECRET_KEY,
    FakeOPay,
    Reply,
    SeenRequest,
)
from ._faults import BAD_GATEWAY_PAGE, Fault, FaultKind
from ._transport import FakeTransport

__all__ = [
    "ALREADY_PAID_CODE",
    "ALREADY_PAID_MESSAGE",
    "BAD_GATEWAY_PAGE",
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
