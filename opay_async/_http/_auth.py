"""Request signing: OPay's classic ``Authorization: Bearer <HMAC-SHA512>`` scheme."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Generator
from typing import cast

import httpx2

from .._secret import SecretKey
from ._family import Family

__all__ = ["OPaySignatureAuth", "sign", "signing_auth"]


def sign(body: bytes, secret_key: str | SecretKey) -> str:
    """Hex HMAC-SHA512 of ``body`` keyed with ``secret_key``, as OPay expects.

    Examples:
        >>> sign(b'{"country":"EG","reference":"A1"}', "OPAYPRV_test")[:16]
        'acd3f11187cd6538'
    """
    return hmac.new(SecretKey(secret_key).reveal().encode(), body, hashlib.sha512).hexdigest()


class _Signing:
    """What signing does, whichever httpx family's ``Auth`` it is mixed into."""

    requires_request_body = True

    __slots__ = ("_key", "merchant_id")

    def __init__(self, merchant_id: str, secret_key: str | SecretKey) -> None:
        secret_key = SecretKey(secret_key)  # from here on no frame holds the key in plain text
        self._key = secret_key.reveal().encode()
        self.merchant_id = merchant_id

    def sign(self, request: httpx2.Request) -> None:
        """Set ``request``'s ``Authorization`` (over its exact body) and ``MerchantId``."""
        request.headers["Authorization"] = (
            "Bearer " + hmac.new(self._key, request.content, hashlib.sha512).hexdigest()
        )
        request.headers["MerchantId"] = self.merchant_id

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Sign ``request`` in place and send it once."""
        self.sign(request)
        yield request

    def __repr__(self) -> str:
        merchant_id = getattr(self, "merchant_id", None)
        return f"OPaySignatureAuth(merchant_id={merchant_id!r}, secret_key=SecretKey('***'))"


class OPaySignatureAuth(_Signing, httpx2.Auth):
    """Signs each request's exact body bytes and names the merchant (an ``httpx2.Auth``).

    Sets ``Authorization: Bearer <hex HMAC-SHA512 of request.content>`` and
    ``MerchantId``. Because it signs ``request.content`` (what httpx2 sends), what is
    signed is always what is sent. The SDK signs a legacy ``httpx.AsyncClient``'s
    requests with the same code, as an ``httpx.Auth``.

    Args:
        merchant_id: OPay merchant id.
        secret_key: The merchant's secret key (``OPAYPRV...``), a ``str`` or a
            [`SecretKey`][opay_async.SecretKey]. Never shown in ``repr``.

    Examples:
        >>> auth = OPaySignatureAuth("256612345678901", "OPAYPRV_test")
        >>> request = httpx2.Request("POST", "https://example.test", content=b"{}")
        >>> signed = next(auth.auth_flow(request))
        >>> signed.headers["MerchantId"]
        '256612345678901'
        >>> signed.headers["Authorization"].startswith("Bearer ")
        True
    """

    __slots__ = ()


# Each family's ``Auth`` base -> the signing class of that family.
_CLASSES: dict[type[httpx2.Auth], type[OPaySignatureAuth]] = {httpx2.Auth: OPaySignatureAuth}


def signing_auth(family: Family, merchant_id: str, secret_key: SecretKey) -> OPaySignatureAuth:
    """An ``Auth`` of ``family`` (httpx2's or legacy httpx's) that signs as this module's."""
    base = family.module.Auth
    made = _CLASSES.get(base)
    if made is None:  # legacy httpx: the same signing, as a subclass of its own Auth
        made = _CLASSES[base] = cast(
            "type[OPaySignatureAuth]",
            type(
                "OPaySignatureAuth",
                (_Signing, base),
                # (``type()`` sets ``__module__`` to this module's name, the caller's)
                {"__slots__": (), "__doc__": OPaySignatureAuth.__doc__},
            ),
        )
    return made(merchant_id, secret_key)
