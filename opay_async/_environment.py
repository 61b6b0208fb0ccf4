"""Which OPay host serves a request: by environment and by country."""

from __future__ import annotations

import ipaddress
from typing import Final, Literal
from urllib.parse import urlsplit

from ._errors import OPayValidationError

__all__ = ["CLOSE_PATH", "Environment", "base_url_for", "check_base_url", "check_environment"]

Environment = Literal["sandbox", "production"]

#: The path of OPay's Cancel Payment API.
CLOSE_PATH: Final = "/api/v1/international/payment/close"

# OPay's own mobile SDK sends Egypt to these hosts...
_EGYPT_HOSTS: Final = {
    "sandbox": "https://sandboxapi.opaycheckout.com",
    "production": "https://api.opaycheckout.com",
}
# ...and Nigeria and every other country to these.
_OTHER_HOSTS: Final = {
    "sandbox": "https://testapi.opaycheckout.com",
    "production": "https://liveapi.opaycheckout.com",
}


def check_environment(environment: object) -> Environment:
    """Return ``environment`` if it is ``"sandbox"`` or ``"production"``, else raise."""
    if environment == "sandbox":
        return "sandbox"
    if environment == "production":
        return "production"
    raise OPayValidationError(
        "environment", f"must be 'sandbox' or 'production', got {environment!r}"
    )


def base_url_for(environment: Environment, country: str) -> str:
    """The OPay host for ``country`` in ``environment``.

    Example:
        >>> base_url_for("sandbox", "EG"), base_url_for("production", "NG")
        ('https://sandboxapi.opaycheckout.com', 'https://liveapi.opaycheckout.com')
    """
    hosts = _EGYPT_HOSTS if country == "EG" else _OTHER_HOSTS
    return hosts[environment]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: object) -> str:
    """Return ``base_url`` without a trailing slash if it is safe to send keys to.

    It must be ``https://``, except on a loopback host (127.0.0.0/8, ::1, localhost),
    where ``http://`` is allowed for simulators and tests.

    Example:
        >>> check_base_url("http://127.0.0.1:8000/")
        'http://127.0.0.1:8000'
    """
    if not isinstance(base_url, str):
        raise OPayValidationError("base_url", f"must be a string, got {type(base_url).__name__}")
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if not host:
        raise OPayValidationError("base_url", f"must be an absolute URL, got {base_url!r}")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return base_url.rstrip("/")
    raise OPayValidationError(
        "base_url",
        f"must use https:// (http:// only on a loopback host), got {base_url!r}",
    )
