"""What a failure to send or receive means: the ``OPayError`` standing for a transport exception.

Both backends end in httpx exceptions, but not always the right ones: httpx-aiohttp
reports a certificate failure as ``ConnectTimeout``. So the exception's whole chain
(``__cause__`` and ``__context__``) is searched for the TLS error underneath, and a
certificate that does not verify is reported as such and never retried: it fails the
same way every time.
"""

from __future__ import annotations

import ssl
from typing import Final

import httpx

from ._errors import (
    OPayConnectionError,
    OPayError,
    OPayResponseError,
    OPayTimeoutError,
    redact,
)
from ._request import CloseRequest

__all__ = ["opay_error_for"]

# Transport failures that fail the same way however often they are retried.
_PERMANENT: Final = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
# TLS errors that mean the connection broke during the handshake, not that it cannot work.
_TRANSIENT_TLS: Final = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)
_CHAIN_LIMIT: Final = 16


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and what caused it, following ``__cause__`` then ``__context__``."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < _CHAIN_LIMIT:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _tls_problem(error: BaseException) -> str | None:
    """What TLS error lies under ``error``, if one that retrying cannot fix does."""
    links = _chain(error)
    # The deepest certificate error is the ssl module's own (aiohttp's wrapper of it
    # is a subclass too, without the verification message).
    certificate = [link for link in links if isinstance(link, ssl.SSLCertVerificationError)]
    if certificate:
        reason = getattr(certificate[-1], "verify_message", None) or str(certificate[-1])
        return (
            f"TLS certificate verification failed: {reason} (not retried: it fails "
            "the same way every time; check the host, the proxy, or SSL_CERT_FILE)"
        )
    for link in links:
        if isinstance(link, ssl.SSLError) and not isinstance(link, _TRANSIENT_TLS):
            return f"TLS handshake failed: {link.reason or link}"
    return None


def _described(error: BaseException) -> str:
    text = str(error)
    return redact(f"{type(error).__name__}: {text}" if text else type(error).__name__)


def opay_error_for(caught: BaseException, request: CloseRequest) -> OPayError | None:
    """The ``OPayError`` standing for ``caught``; ``None`` when it is not a transport failure.

    ``CancelledError`` and genuine bugs get ``None``: they must propagate untouched. The
    result keeps ``caught`` as ``__cause__`` (without its traceback) unless its text
    holds something that looks like a key or a signature.
    """
    if isinstance(caught, OPayError):
        return caught
    identity = request.identity()
    error: OPayError
    tls = _tls_problem(caught)
    if tls is not None:
        error = OPayConnectionError(tls, retryable=False, **identity)
    elif isinstance(caught, TimeoutError | httpx.TimeoutException):
        error = OPayTimeoutError(
            f"no answer from OPay in time ({type(caught).__name__})", **identity
        )
    elif isinstance(caught, httpx.DecodingError):
        error = OPayResponseError(
            f"OPay's answer could not be decoded: {_described(caught)}", **identity
        )
    elif isinstance(caught, httpx.TransportError):
        error = OPayConnectionError(
            f"could not reach OPay: {_described(caught)}",
            retryable=not isinstance(caught, _PERMANENT),
            **identity,
        )
    elif isinstance(caught, httpx.HTTPError | httpx.InvalidURL):
        error = OPayConnectionError(_described(caught), retryable=False, **identity)
    else:
        return None
    if redact(str(caught)) == str(caught):
        # Kept for its type and text; its frames go: httpcore's and h11's hold the signed
        # headers in their locals, and outcomes kept by the thousand would hold the frames.
        for link in _chain(caught):
            link.__traceback__ = None
        error.__cause__ = caught
    return error
