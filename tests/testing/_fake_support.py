"""Helpers shared by the FakeOPay tests: hand-signed raw requests."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from opay_async import CLOSE_PATH, RetryPolicy
from opay_async.testing import FakeOPay

URL = "https://sandboxapi.opaycheckout.com" + CLOSE_PATH
NO_RETRY = RetryPolicy(attempts=1)


def body_of(**fields: Any) -> bytes:
    """A compact, sorted JSON body, as the SDK sends."""
    return json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()


def signed(body: bytes, key: str, merchant: str) -> dict[str, str]:
    signature = hmac.new(key.encode(), body, hashlib.sha512).hexdigest()
    return {
        "Authorization": f"Bearer {signature}",
        "MerchantId": merchant,
        "Content-Type": "application/json",
    }


def signed_for(fake: FakeOPay, body: bytes) -> dict[str, str]:
    return signed(body, fake.secret_key, fake.merchant_id)


async def raw_post(
    fake: FakeOPay, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST ``body`` to the fake's close path, signed right unless ``headers`` are given."""
    async with httpx.AsyncClient(transport=fake.transport) as http:
        return await http.post(
            URL, content=body, headers=signed_for(fake, body) if headers is None else headers
        )
