"""The ``base_url`` option: a URL httpx2 can send to, and safe to send a signed request to."""

from __future__ import annotations

import ipaddress

import httpx2

from .._errors import OPayValidationError

__all__ = ["check_base_url"]


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
    allowed (a gateway), credentials, a query or a fragment are not, and anything httpx2
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
        url = httpx2.URL(value)
        port = url.port
    except (httpx2.InvalidURL, ValueError) as error:
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
