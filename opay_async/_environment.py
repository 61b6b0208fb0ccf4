"""Which OPay host serves a request: by environment and by country."""

from __future__ import annotations

import ipaddress
from typing import Final, Literal

import httpx

from ._errors import OPayValidationError

__all__ = [
    "CLOSE_PATH",
    "Environment",
    "Router",
    "base_url_for",
    "check_base_url",
    "check_environment",
]

Environment = Literal["sandbox", "production"]
"""OPay's environment: ``"sandbox"`` (the default) or ``"production"``."""

CLOSE_PATH: Final = "/api/v1/international/payment/close"
"""The path of OPay's Cancel Payment API."""

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

    Examples:
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
    r"""Return ``base_url`` without surrounding whitespace or a trailing slash, if it is safe.

    Surrounding whitespace is stripped first (a CRLF ``.env`` file leaves a carriage
    return). It must then be an absolute ``https://`` URL, or ``http://`` on a loopback
    host (127.0.0.0/8, ::1, localhost) for simulators and tests; a path prefix is
    allowed (a gateway), credentials, a query or a fragment are not, and anything httpx
    would refuse later (a bad port, a space, a control character) is refused now.

    Examples:
        >>> check_base_url(" http://127.0.0.1:8000/ \r")
        'http://127.0.0.1:8000'
        >>> check_base_url("https://example.com:bad")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: base_url: is not a valid URL (Invalid port: ...
    """
    if not isinstance(base_url, str):
        raise OPayValidationError("base_url", f"must be a string, got {type(base_url).__name__}")
    value = base_url.strip()
    shown = value[:100]
    try:
        url = httpx.URL(value)
        port = url.port
    except (httpx.InvalidURL, ValueError) as error:
        raise OPayValidationError(
            "base_url", f"is not a valid URL ({error}), got {shown!r}"
        ) from None
    problem = None
    if not url.host or not url.is_absolute_url:
        problem = "must be an absolute URL"
    elif any(character.isspace() or not character.isprintable() for character in value):
        problem = "must not contain spaces or control characters"
    elif url.userinfo:
        problem = "must not hold credentials"
    elif url.query or url.fragment:
        problem = "must not have a query or a fragment"
    elif port is not None and not 0 < port < 65536:
        problem = "has a port out of range"
    elif not (url.scheme == "https" or (url.scheme == "http" and _is_loopback(url.host))):
        problem = "must use https:// (http:// only on a loopback host)"
    if problem is not None:
        shown = shown if not url.userinfo else "(a URL with credentials)"
        raise OPayValidationError("base_url", f"{problem}, got {shown!r}")
    return value.rstrip("/")


class Router:
    """The URL of a close, per country: ``base_url`` for every country, else OPay's host.

    Examples:
        >>> route = Router("production", None)
        >>> route("NG")
        URL('https://liveapi.opaycheckout.com/api/v1/international/payment/close')
        >>> str(Router("sandbox", "http://127.0.0.1:8000")("EG"))
        'http://127.0.0.1:8000/api/v1/international/payment/close'
    """

    __slots__ = ("_urls", "base_url", "environment")

    def __init__(self, environment: Environment, base_url: str | None) -> None:
        self.environment: Environment = environment
        self.base_url = base_url
        self._urls: dict[str, httpx.URL] = {}

    def __call__(self, country: str) -> httpx.URL:
        """The close URL for ``country`` (an upper-case ISO code), parsed once per country."""
        url = self._urls.get(country)
        if url is None:
            base = self.base_url or base_url_for(self.environment, country)
            url = self._urls[country] = httpx.URL(base + CLOSE_PATH)
        return url

    def __repr__(self) -> str:
        where = getattr(self, "base_url", None)
        if where:
            return f"Router(base_url={where!r})"
        return f"Router(environment={getattr(self, 'environment', None)!r})"
