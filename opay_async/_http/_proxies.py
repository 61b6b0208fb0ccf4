"""Proxies from the environment, routed the way httpx routes them.

``HTTPS_PROXY``, ``HTTP_PROXY`` and ``ALL_PROXY`` (or their lower-case forms) name the
proxy for each scheme; ``NO_PROXY`` lists hosts reached directly (``*`` for all of them,
``example.com`` for it and its subdomains, ``.example.com`` for subdomains only, IP
addresses, ``localhost``). These are httpx2's rules (``httpx2.AsyncClient(trust_env=True)``),
so the SDK's own client goes where a plain httpx2 client would. Unlike httpx2, surrounding
whitespace is stripped (a CRLF ``.env`` file leaves a carriage return) and a proxy URL
that cannot be used is refused at once, naming its variable.
"""

from __future__ import annotations

import ipaddress
from urllib.request import getproxies

import httpx2

from .._errors import OPayValidationError

__all__ = ["Routes", "environment_routes"]

#: URL pattern (httpx2's ``mounts`` syntax) -> proxy URL, or ``None`` for a direct connection.
Routes = dict[str, str | None]


def _is_ip(host: str, version: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        version(host.split("/", maxsplit=1)[0])
    except ValueError:
        return False
    return True


def _direct_pattern(host: str) -> str:
    """The httpx2 URL pattern of one ``NO_PROXY`` entry."""
    if "://" in host:
        return host
    if _is_ip(host, ipaddress.IPv4Address) or host.lower() == "localhost":
        return f"all://{host}"
    if _is_ip(host, ipaddress.IPv6Address):
        return f"all://[{host}]"
    return f"all://*{host}"


def _checked_proxy(scheme: str, value: str) -> str:
    url = value if "://" in value else f"http://{value}"
    variable = f"{scheme.upper()}_PROXY"
    # The messages name the variable, never the URL: it may hold a password.
    if any(character.isspace() or not character.isprintable() for character in url):
        raise OPayValidationError(variable, "must not contain spaces or control characters")
    try:
        httpx2.Proxy(url)
    except (ValueError, TypeError, httpx2.InvalidURL) as error:
        raise OPayValidationError(
            variable, f"is not a proxy URL httpx2 can use ({type(error).__name__})"
        ) from None
    return url


def environment_routes() -> Routes:
    r"""Where each request goes, from the proxy variables of the environment.

    Returns an empty mapping when no proxy is set (or ``NO_PROXY=*``).

    Raises:
        OPayValidationError: A proxy variable holds something that is not a proxy URL.

    Examples:
        >>> import os
        >>> from unittest import mock
        >>> variables = {"HTTPS_PROXY": "proxy:3128\r", "NO_PROXY": "internal.test"}
        >>> with mock.patch.dict(os.environ, variables, clear=True):
        ...     environment_routes()
        {'https://': 'http://proxy:3128', 'all://*internal.test': None}
    """
    found = {scheme: value.strip() for scheme, value in getproxies().items()}
    routes: Routes = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme):
            routes[f"{scheme}://"] = _checked_proxy(scheme, found[scheme])
    for host in (entry.strip() for entry in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if host:
            routes[_direct_pattern(host)] = None
    return routes
