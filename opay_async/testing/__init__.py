"""Test helpers: an OPay simulator (in process or over HTTP), and retries that do not sleep.

[`FakeOPay`][opay_async.testing.FakeOPay] behaves like OPay's Cancel Payment API: it
checks the merchant id and the signature of every request, keeps payments and their
states, and injects faults on demand. Reach it through ``fake.client()`` (an
``OPayClient`` wired to it), ``fake.transport`` (an ``httpx2`` transport), ``fake.app`` (a
plain ASGI 3 app) or ``fake.serve()`` (real HTTP on loopback, with the ``simulator``
extra), where its admin API (``/_simulator/``) and scripted references (``[sim:...]``)
steer it from any language.

[`instant_retries`][opay_async.testing.instant_retries] puts the SDK on a virtual clock,
so retry waits return at once.

With pytest, the package's plugin gives the fixtures ``opay_fake``, ``opay_client`` and
``opay_instant_retries``. Importing this module does not import pytest.

Examples:
    ```python
    from opay_async.testing import FakeOPay

    fake = FakeOPay()
    fake.add_payment(reference="SHOP-1", country="EG")
    async with fake.client() as opay:
        await opay.close_payment(reference="SHOP-1", country="EG")
    assert fake.payment(reference="SHOP-1").is_closed
    ```
"""

from ._admin import ADMIN_PREFIX
from ._asgi import ASGIApp, SimulatedDrop, asgi_app
from ._banner import SimulatorBanner
from ._clock import VirtualClock, instant_retries
from ._fake import FakeOPay
from ._faults import BAD_GATEWAY_PAGE, Fault, FaultKind, FaultRates
from ._latency import parse_latency
from ._opay import DEFAULT_MERCHANT_ID, DEFAULT_SECRET_KEY, PaidAnswer
from ._recording import SeenRequest
from ._reply import ALREADY_PAID_CODE, ALREADY_PAID_MESSAGE, Reply, Responder
from ._scripted import ScriptError, parse_script
from ._transport import FakeTransport

__all__ = [
    "ADMIN_PREFIX",
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
    "FaultRates",
    "PaidAnswer",
    "Reply",
    "Responder",
    "ScriptError",
    "SeenRequest",
    "SimulatedDrop",
    "SimulatorBanner",
    "VirtualClock",
    "asgi_app",
    "instant_retries",
    "parse_latency",
    "parse_script",
]
