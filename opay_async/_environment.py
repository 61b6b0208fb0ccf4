"""Which OPay host serves a request: by environment and by country."""

from __future__ import annotations

from typing import Final, Literal

from ._errors import OPayValidationError

__all__ = [
    "CLOSE_PATH",
    "Environment",
    "Router",
    "base_url_for",
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


class Router:
    """The URL of a close, per country: ``base_url`` for every country, else OPay's host.

    Examples:
        >>> route = Router("production", None)
        >>> route("NG")
        'https://liveapi.opaycheckout.com/api/v1/international/payment/close'
        >>> Router("sandbox", "http://127.0.0.1:8000")("EG")
        'http://127.0.0.1:8000/api/v1/international/payment/close'
    """

    __slots__ = ("_urls", "base_url", "environment")

    def __init__(self, environment: Environment, base_url: str | None) -> None:
        self.environment: Environment = environment
        self.base_url = base_url
        self._urls: dict[str, str] = {}

    def __call__(self, country: str) -> str:
        """The close URL for ``country`` (an upper-case ISO code)."""
        url = self._urls.get(country)
        if url is None:
            base = self.base_url or base_url_for(self.environment, country)
            url = self._urls[country] = base + CLOSE_PATH
        return url

    def __repr__(self) -> str:
        where = getattr(self, "base_url", None)
        if where:
            return f"Router(base_url={where!r})"
        return f"Router(environment={getattr(self, 'environment', None)!r})"
