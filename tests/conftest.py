"""Shared fixtures: a MockTransport that records what the SDK sends."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from opay_async import OPayClient
from opay_async._clock import VirtualClock, reset_clock, use_clock

MERCHANT_ID = "256612345678901"
SECRET_KEY = "OPAYPRV_test_secret_0187828"


def success(body: dict[str, Any], status: str = "CLOSE") -> dict[str, Any]:
    """OPay's documented success answer for the request ``body``."""
    return {
        "code": "00000",
        "message": "SUCCESSFUL",
        "data": {
            "reference": body.get("reference", "56215641"),
            "orderNo": body.get("orderNo", "211018140366538753"),
            "country": body["country"],
            "amount": {"total": 400, "currency": "EGP"},
            "orderStatus": status,
        },
    }


Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler answering from a script, recording every request.

    ``answers`` are used in order; when they run out, every request gets a success.
    An answer is a response, a callable taking the request, or an exception to raise.
    """

    def __init__(self, *answers: Answer | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer if isinstance(answer, httpx.Response) else answer(request)
        return httpx.Response(200, json=success(json.loads(request.content)))

    @property
    def sent(self) -> int:
        return len(self.requests)

    def client(self, **options: Any) -> OPayClient:
        return OPayClient(MERCHANT_ID, SECRET_KEY, transport=httpx.MockTransport(self), **options)


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """Retry waits do not sleep; the virtual clock records them."""
    virtual = VirtualClock()
    token = use_clock(virtual)
    yield virtual
    reset_clock(token)
