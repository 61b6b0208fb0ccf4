"""The httpx family a client belongs to: httpx2 (ours), or a caller's legacy httpx.

httpx2 is the maintained continuation of httpx, with the same API under another import
name; the two families' classes do not mix (an ``httpx.URL`` is refused by an
``httpx2.AsyncClient``, ``except httpx2.TransportError`` never catches an
``httpx.TransportError``). The SDK is written once against httpx2's API; a `Family`
gives it the classes of the family a given client belongs to.

Legacy httpx is never imported here: a caller who passes an ``httpx.AsyncClient`` has
imported it already, so it is found in ``sys.modules``. When an application called
``httpx2.alias_httpx()``, ``sys.modules["httpx"]`` *is* httpx2, and there is one family.
"""

from __future__ import annotations

import sys
from typing import Protocol, cast

import attrs
import httpx2

from .._errors import OPayValidationError

__all__ = ["HTTPX2", "Family", "HttpModule", "family_of", "legacy_module", "loaded_modules"]


class HttpModule(Protocol):
    """What the SDK uses of an httpx-family module (typed as httpx2's own classes)."""

    AsyncBaseTransport: type[httpx2.AsyncBaseTransport]
    AsyncClient: type[httpx2.AsyncClient]
    Auth: type[httpx2.Auth]
    Headers: type[httpx2.Headers]
    Timeout: type[httpx2.Timeout]
    URL: type[httpx2.URL]
    DecodingError: type[httpx2.DecodingError]
    HTTPError: type[httpx2.HTTPError]
    InvalidURL: type[httpx2.InvalidURL]
    LocalProtocolError: type[httpx2.LocalProtocolError]
    ProxyError: type[httpx2.ProxyError]
    TimeoutException: type[httpx2.TimeoutException]
    TransportError: type[httpx2.TransportError]
    UnsupportedProtocol: type[httpx2.UnsupportedProtocol]
    __version__: str


@attrs.frozen
class Family:
    """One httpx family: its module and its name.

    Attributes:
        module: ``httpx2``, or the caller's legacy ``httpx`` (typed as httpx2: same API).
        name: ``"httpx2"`` or ``"httpx"``, for messages.
    """

    module: HttpModule
    name: str

    @property
    def is_legacy(self) -> bool:
        """Whether this is legacy httpx (not httpx2)."""
        return self.module is not cast("HttpModule", httpx2)


#: The family of the SDK's own clients.
HTTPX2 = Family(cast("HttpModule", httpx2), "httpx2")


def legacy_module() -> HttpModule | None:
    """Legacy httpx, if the application imported it (and it is not httpx2 aliased)."""
    module = sys.modules.get("httpx")
    if module is None or module is httpx2 or not hasattr(module, "AsyncClient"):
        return None
    return cast("HttpModule", module)


def loaded_modules() -> tuple[HttpModule, ...]:
    """httpx2, and legacy httpx too where the application imported it."""
    legacy = legacy_module()
    return (HTTPX2.module,) if legacy is None else (HTTPX2.module, legacy)


def _kind(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def family_of(field: str, value: object, *, kind: str) -> Family:
    """The family of ``value``, an ``AsyncClient`` or an ``AsyncBaseTransport`` (``kind``).

    Raises:
        OPayValidationError: ``value`` is neither httpx2's ``kind`` nor legacy httpx's
            (the message names ``field`` and the type that was passed).

    Examples:
        >>> family_of("http_client", httpx2.AsyncClient(), kind="AsyncClient").name
        'httpx2'
        >>> family_of("http_client", object(), kind="AsyncClient")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: http_client: must be an httpx2.AsyncClient ...
    """
    if isinstance(value, getattr(HTTPX2.module, kind)):
        return HTTPX2
    legacy = legacy_module()
    if legacy is not None and isinstance(value, getattr(legacy, kind)):
        return Family(legacy, "httpx")
    raise OPayValidationError(
        field,
        f"must be an httpx2.{kind} (or a legacy httpx.{kind}), got {_kind(value)}",
    )
