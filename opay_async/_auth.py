"""Request signing: OPay's classic ``Authorization: Bearer <HMAC-SHA512>`` scheme."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Generator

import httpx

from ._secret import SecretKey

__all__ = ["OPaySignatureAuth", "sign"]


def sign(body: bytes, secret_key: str | SecretKey) -> str:
    """Hex HMAC-SHA512 of ``body`` keyed with ``secret_key``, as OPay expects.

    Examples:
        >>> sign(b'{"country":"EG","reference":"A1"}', "OPAYPRV_test")[:16]
        'acd3f11187cd6538'
    """
    return hmac.new(SecretKey(secret_key).reveal().encode(), body, hashlib.sha512).hexdigest()


class OPaySignatureAuth(httpx.Auth):
    """Signs each request's exact body bytes and names the merchant.

    Sets ``Authorization: Bearer <hex HMAC-SHA512 of request.content>`` and
    ``MerchantId``. Because it signs ``request.content`` (what httpx sends), what is
    signed is always what is sent.

    Args:
        merchant_id: OPay merchant id.
        secret_key: The merchant's secret key (``OPAYPRV...``), a ``str`` or a
            [`SecretKey`][opay_async.SecretKey]. Never shown in ``repr``.

    Examples:
        >>> auth = OPaySignatureAuth("256612345678901", "OPAYPRV_test")
        >>> request = httpx.Request("POST", "https://example.test", content=b"{}")
        >>> signed = next(auth.auth_flow(request))
        >>> signed.headers["MerchantId"]
        '256612345678901'
        >>> signed.headers["Authorization"].startswith("Bearer ")
        True
    """

    requires_request_body = True

    __slots__ = ("_key", "merchant_id")

    def __init__(self, merchant_id: str, secret_key: str | SecretKey) -> None:
        secret_key = SecretKey(secret_key)  # from here on no frame holds the key in plain text
        self._key = secret_key.reveal().encode()
        self.merchant_id = merchant_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` in place and send it once."""
        request.headers["Authorization"] = (
            "Bearer " + hmac.new(self._key, request.content, hashlib.sha512).hexdigest()
        )
        request.headers["MerchantId"] = self.merchant_id
        yield request

    def __repr__(self) -> str:
        merchant_id = getattr(self, "merchant_id", None)
        return f"OPaySignatureAuth(merchant_id={merchant_id!r}, secret_key=SecretKey('***'))"
