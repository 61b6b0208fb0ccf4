"""What a failure to send or receive means: the ``OPayError`` standing for a transport exception.

Every way of sending ends in exceptions of an httpx family: httpx2's (the SDK's own
pools, the aiohttp backend included) or legacy httpx's (a caller's ``httpx.AsyncClient``).
Both families are recognised, whichever client raised. The exception's whole chain
(``__cause__`` and ``__context__``) is searched for a TLS error underneath, and a
certificate that does not verify is reported as such and never retried: it fails the
same way every time.
"""

from __future__ import annotations

import ssl
from typing import Final

from .._errors import (
    Identity,
    OPayConnectionError,
    OPayError,
    OPayResponseError,
    OPayTimeoutError,
    redact,
)
from .._request import CloseRequest
from ._family import HttpModule, loaded_modules

__all__ = ["opay_error_for", "stopping"]

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


def stopping(caught: BaseException) -> BaseException | None:
    """The ``SystemExit`` or ``KeyboardInterrupt`` in ``caught``'s chain, if there is one.

    A process told to stop by a signal handler that raises (billiard's, in every Celery
    prefork worker) gets that exception wherever it is. Raised inside httpcore2's anyio
    cleanup, it comes out as the cleanup's own error (``RuntimeError: Attempted to exit a
    cancel scope ...``) or as a transport error, with the stop as its context: read as a
    failure, it would be retried or reported, and the process would not stop.
    """
    for link in _chain(caught):
        if isinstance(link, (SystemExit, KeyboardInterrupt)):
            return link
    return None


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


def _any(modules: tuple[HttpModule, ...], name: str) -> tuple[type[BaseException], ...]:
    """The exception class ``name`` of each loaded family."""
    return tuple(getattr(module, name) for module in modules)


def _loop_problem(caught: BaseException) -> str | None:
    """What a ``RuntimeError`` about event loops means here, if it is one."""
    text = str(caught)
    if not isinstance(caught, RuntimeError) or "loop" not in text.lower():
        return None
    return (
        f"the http_client or transport belongs to another event loop ({text[:120]}): "
        "an httpx client works only in the event loop it first sent from; make one per "
        "event loop, or give OPayClient neither (its own pool follows the running loop)"
    )


def _os_failure(caught: OSError, identity: Identity) -> OPayConnectionError:
    """An operating-system error that no HTTP library wrapped.

    Nothing in the send path does I/O but the sockets and the event loop under the
    transport, so it comes from there: a connection reset on a socket httpcore2 did not
    expect to read, or a selector refusing a socket (``FileExistsError`` from epoll: a
    socket, or an event loop, shared with another process across ``os.fork()``).
    """
    if isinstance(caught, (ConnectionError, *_TRANSIENT_TLS)):
        return OPayConnectionError(
            f"could not reach OPay: {_described(caught)}", retryable=True, **identity
        )
    return OPayConnectionError(
        f"could not send: {_described(caught)} (an operating-system error under the HTTP "
        "library: a socket or event loop this process cannot use, e.g. one shared across "
        "os.fork())",
        retryable=False,
        **identity,
    )


def opay_error_for(caught: BaseException, request: CloseRequest) -> OPayError | None:
    """The ``OPayError`` standing for ``caught``; ``None`` when it is not a transport failure.

    ``CancelledError`` and genuine bugs get ``None``: they must propagate untouched (an
    ``OSError`` is no bug here: only the sockets under the transport raise one). The
    result keeps ``caught`` as ``__cause__`` (without its traceback) unless its text
    holds something that looks like a key or a signature.
    """
    if isinstance(caught, OPayError):
        return caught
    identity = request.identity()
    modules = loaded_modules()
    error: OPayError
    tls = _tls_problem(caught)
    loop = _loop_problem(caught)
    if tls is not None:
        error = OPayConnectionError(tls, retryable=False, **identity)
    elif loop is not None:
        error = OPayConnectionError(loop, retryable=False, **identity)
    elif isinstance(caught, (TimeoutError, *_any(modules, "TimeoutException"))):
        error = OPayTimeoutError(
            f"no answer from OPay in time ({type(caught).__name__})", **identity
        )
    elif isinstance(caught, _any(modules, "DecodingError")):
        error = OPayResponseError(
            f"OPay's answer could not be decoded: {_described(caught)}", **identity
        )
    elif isinstance(caught, _any(modules, "TransportError")):
        # These fail the same way however often they are retried.
        permanent = (
            *_any(modules, "UnsupportedProtocol"),
            *_any(modules, "LocalProtocolError"),
            *_any(modules, "ProxyError"),
        )
        error = OPayConnectionError(
            f"could not reach OPay: {_described(caught)}",
            retryable=not isinstance(caught, permanent),
            **identity,
        )
    elif isinstance(caught, (*_any(modules, "HTTPError"), *_any(modules, "InvalidURL"))):
        error = OPayConnectionError(_described(caught), retryable=False, **identity)
    elif isinstance(caught, OSError):
        error = _os_failure(caught, identity)
    else:
        return None
    if redact(str(caught)) == str(caught):
        # Kept for its type and text; its frames go: httpcore's and h11's hold the signed
        # headers in their locals, and outcomes kept by the thousand would hold the frames.
        for link in _chain(caught):
            link.__traceback__ = None
        error.__cause__ = caught
    return error
