"""Which ``OPayError`` a transport exception becomes: its type, its words, whether it is retried.

In process, exception by exception, for each httpx family loaded (httpx2, and legacy
httpx in its lane): the end-to-end tests reach these paths too, but only this file pins
every message and every retry decision.
"""

from __future__ import annotations

import itertools
import ssl
import sys
import types

import httpx2
import pytest

from opay_async import (
    CloseRequest,
    OPayClient,
    OPayConnectionError,
    OPayError,
    OPayResponseError,
    OPayTimeoutError,
)
from opay_async._http._failures import opay_error_for, stopping
from tests.helpers import LEGACY_HTTPX, MERCHANT_ID, SECRET_KEY, hx

REQUEST = CloseRequest(reference="R-1", country="EG")
FAMILIES: list[types.ModuleType] = [httpx2, hx] if LEGACY_HTTPX else [httpx2]
KEY = "OPAYPRV17052839512345"


def mapped(caught: BaseException) -> OPayError:
    error = opay_error_for(caught, REQUEST)
    assert error is not None, f"{caught!r} was not taken for a transport failure"
    assert (error.reference, error.order_no) == ("R-1", None)
    return error


def chained(*links: BaseException) -> BaseException:
    """``links[0]``, caused by ``links[1]``, caused by ``links[2]``... (as ``raise from``)."""
    for outer, inner in itertools.pairwise(links):
        outer.__cause__ = inner
    return links[0]


def certificate_error(message: str | None) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    error.verify_message = message  # type: ignore[assignment]
    return error


# --- what is and is not a transport failure --------------------------------------------


def test_an_opay_error_is_returned_as_it_is() -> None:
    error = OPayConnectionError("already mapped", retryable=False)
    assert opay_error_for(error, REQUEST) is error


@pytest.mark.parametrize(
    "bug",
    [ValueError("loop"), KeyError("x"), RuntimeError("something else broke"), TypeError("x")],
    ids=["value-error-saying-loop", "key-error", "runtime-error", "type-error"],
)
def test_a_bug_is_not_taken_for_a_transport_failure(bug: BaseException) -> None:
    assert opay_error_for(bug, REQUEST) is None


# --- timeouts, decoding, transport ------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES, ids=lambda module: module.__name__)
def test_a_timeout_is_a_retried_timeout_naming_its_kind(family: types.ModuleType) -> None:
    for caught, kind in [
        (family.ReadTimeout("slow"), "ReadTimeout"),
        (family.PoolTimeout("full"), "PoolTimeout"),
        (TimeoutError(), "TimeoutError"),
    ]:
        error = mapped(caught)
        assert type(error) is OPayTimeoutError
        assert error.message == f"no answer from OPay in time ({kind})"
        assert error.retryable is True


@pytest.mark.parametrize("family", FAMILIES, ids=lambda module: module.__name__)
def test_an_answer_that_cannot_be_decoded_is_a_response_error(family: types.ModuleType) -> None:
    error = mapped(family.DecodingError("Error -3 while decompressing data"))
    assert type(error) is OPayResponseError
    assert error.message == (
        "OPay's answer could not be decoded: DecodingError: Error -3 while decompressing data"
    )
    assert error.retryable is False


@pytest.mark.parametrize("family", FAMILIES, ids=lambda module: module.__name__)
@pytest.mark.parametrize(
    ("name", "retryable"),
    [
        ("ConnectError", True),
        ("ReadError", True),
        ("RemoteProtocolError", True),
        ("UnsupportedProtocol", False),
        ("LocalProtocolError", False),
        ("ProxyError", False),
    ],
)
def test_a_transport_error_is_retried_unless_it_fails_every_time(
    family: types.ModuleType, name: str, retryable: bool
) -> None:
    error = mapped(getattr(family, name)("went wrong"))
    assert type(error) is OPayConnectionError
    assert error.message == f"could not reach OPay: {name}: went wrong"
    assert error.retryable is retryable


@pytest.mark.parametrize("family", FAMILIES, ids=lambda module: module.__name__)
def test_an_error_without_words_is_named_by_its_type(family: types.ModuleType) -> None:
    assert mapped(family.ConnectError("")).message == "could not reach OPay: ConnectError"


@pytest.mark.parametrize("family", FAMILIES, ids=lambda module: module.__name__)
def test_other_http_errors_and_bad_urls_are_not_retried(family: types.ModuleType) -> None:
    for caught, text in [
        (family.TooManyRedirects("Exceeded maximum allowed redirects."), "TooManyRedirects"),
        (family.InvalidURL("Invalid port: 'x'"), "InvalidURL"),
    ]:
        error = mapped(caught)
        assert type(error) is OPayConnectionError
        assert error.message == f"{text}: {caught}"
        assert error.retryable is False


# --- operating-system errors no HTTP library wrapped ---------------------------------


@pytest.mark.parametrize(
    ("raised", "retryable"),
    [
        (FileExistsError(17, "File exists"), False),  # epoll, a socket another process listed
        (FileNotFoundError(2, "No such file or directory"), False),
        (OSError(9, "Bad file descriptor"), False),
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (BrokenPipeError(32, "Broken pipe"), True),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, OSError) else str(value),
)
def test_an_operating_system_error_under_the_transport_is_a_connection_error(
    raised: OSError, retryable: bool
) -> None:
    error = mapped(raised)
    assert type(error) is OPayConnectionError
    assert error.retryable is retryable
    assert f"{type(raised).__name__}: {raised}" in error.message
    if not retryable:  # what it may mean, since it is not a failure of the network
        assert error.message.startswith("could not send: ")
        assert "os.fork()" in error.message
    else:
        assert error.message.startswith("could not reach OPay: ")


@pytest.mark.parametrize("backend_error", [FileExistsError(17, "File exists"), OSError(9, "x")])
async def test_an_operating_system_error_comes_out_as_an_opay_error_only(
    backend_error: OSError,
) -> None:
    def handler(request: object) -> object:
        raise backend_error

    opay = OPayClient(MERCHANT_ID, SECRET_KEY, transport=hx.MockTransport(handler))
    async with opay:
        with pytest.raises(OPayConnectionError) as caught:
            await opay.close_payment(reference="R-1", country="EG")
        outcomes = await opay.close_many(["R-2", "R-3"], country="EG")
    assert caught.value.__cause__ is backend_error
    assert [type(outcome.error) for outcome in outcomes] == [OPayConnectionError] * 2


# --- TLS under the transport error ------------------------------------------------------


def test_a_certificate_that_does_not_verify_is_named_and_not_retried() -> None:
    caught = chained(
        httpx2.ConnectError("[SSL] outer"),
        certificate_error("self-signed certificate"),
    )
    error = mapped(caught)
    assert type(error) is OPayConnectionError
    assert error.message == (
        "TLS certificate verification failed: self-signed certificate (not retried: it "
        "fails the same way every time; check the host, the proxy, or SSL_CERT_FILE)"
    )
    assert error.retryable is False


def test_the_deepest_certificate_error_speaks_and_its_text_stands_in_for_a_message() -> None:
    outer = certificate_error("outer words")  # as aiohttp's subclass wraps ssl's
    middle = ssl.SSLCertVerificationError(1, "middle")
    deepest = ssl.SSLCertVerificationError(1, "deepest")  # no verify_message at all
    error = mapped(chained(httpx2.ConnectError("x"), outer, middle, deepest))
    assert error.message.startswith("TLS certificate verification failed: deepest (not")
    deepest.verify_message = ""
    error = mapped(chained(httpx2.ConnectError("x"), outer, middle, deepest))
    assert error.message.startswith("TLS certificate verification failed: deepest (not")


@pytest.mark.parametrize(
    ("tls", "words"),
    [
        (
            ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version"),
            "[SSL: WRONG_VERSION_NUMBER] wrong version",
        ),
        (ssl.SSLError(), ""),
    ],
    ids=["with-reason", "without"],
)
def test_a_handshake_that_cannot_work_is_not_retried(tls: ssl.SSLError, words: str) -> None:
    tls.reason = "WRONG_VERSION_NUMBER" if words else None  # type: ignore[assignment]
    error = mapped(chained(httpx2.ConnectError("x"), tls))
    expected = "WRONG_VERSION_NUMBER" if words else str(tls)
    assert error.message == f"TLS handshake failed: {expected}"
    assert error.retryable is False


@pytest.mark.parametrize(
    "transient", [ssl.SSLEOFError(), ssl.SSLZeroReturnError(), ssl.SSLSyscallError()]
)
def test_a_handshake_cut_short_is_retried_like_any_broken_connection(
    transient: ssl.SSLError,
) -> None:
    error = mapped(chained(httpx2.ConnectError("cut"), transient))
    assert error.message == "could not reach OPay: ConnectError: cut"
    assert error.retryable is True


def test_tls_is_found_through_the_implicit_context_too() -> None:
    outer = httpx2.ConnectError("x")
    outer.__context__ = certificate_error("expired")
    assert "TLS certificate verification failed: expired" in mapped(outer).message


def test_the_explicit_cause_is_followed_before_the_context() -> None:
    outer = httpx2.ConnectError("x")
    outer.__cause__ = certificate_error("from the cause")
    outer.__context__ = certificate_error("from the context")
    assert "failed: from the cause (" in mapped(outer).message


def test_a_chain_is_searched_sixteen_links_deep_and_no_deeper() -> None:
    def depth(n: int) -> BaseException:
        links: list[BaseException] = [httpx2.ConnectError(f"link {i}") for i in range(n - 1)]
        return chained(*links, certificate_error("deep"))

    assert mapped(depth(16)).retryable is False  # the certificate error is link 16
    assert mapped(depth(17)).retryable is True  # beyond the limit: an ordinary ConnectError


def test_a_chain_that_loops_ends() -> None:
    first, second = httpx2.ConnectError("first"), httpx2.ReadError("second")
    first.__context__, second.__context__ = second, first
    error = mapped(first)
    assert error.message == "could not reach OPay: ConnectError: first"
    assert error.__cause__ is first


# --- another event loop -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Event loop is closed",
        "<Lock> is bound to a different event loop",
        "Task got Future attached to a different LOOP",
    ],
)
def test_a_client_of_another_event_loop_is_told_what_to_do(text: str) -> None:
    error = mapped(RuntimeError(text))
    assert type(error) is OPayConnectionError
    assert error.retryable is False
    assert error.message == (
        f"the http_client or transport belongs to another event loop ({text}): an httpx "
        "client works only in the event loop it first sent from; make one per event loop, "
        "or give OPayClient neither (its own pool follows the running loop)"
    )


def test_the_event_loop_error_is_quoted_at_most_120_characters() -> None:
    text = "event loop " + "x" * 300
    assert f"({text[:120]}):" in mapped(RuntimeError(text)).message


def test_tls_speaks_before_the_event_loop() -> None:
    caught = chained(RuntimeError("Event loop is closed"), certificate_error("expired"))
    assert mapped(caught).message.startswith("TLS certificate verification failed: expired")


# --- the cause kept, its frames dropped, unless it holds a secret ------------------------


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_the_cause_is_kept_without_the_frames_of_any_link() -> None:
    inner = _raised(OSError("connection refused"))
    outer = _raised(chained(httpx2.ConnectError("refused"), inner))
    assert [link.__traceback__ is None for link in (outer, inner)] == [False, False]
    error = mapped(outer)
    assert error.__cause__ is outer
    assert [link.__traceback__ is None for link in (outer, inner)] == [True, True]


@pytest.mark.parametrize(
    "text",
    [f"proxy echoed {KEY}", "Bearer " + "ab" * 64],
    ids=["key", "signature"],
)
def test_a_cause_whose_words_hold_a_secret_is_not_kept(text: str) -> None:
    error = mapped(httpx2.ConnectError(text))
    assert error.__cause__ is None
    assert "[redacted]" in error.message
    assert KEY not in error.message and "ab" * 64 not in error.message


def test_legacy_httpx_is_never_imported_to_read_a_failure() -> None:
    if not LEGACY_HTTPX:
        mapped(httpx2.ConnectError("x"))
        assert "httpx" not in sys.modules


# --- a process being stopped is not a failure --------------------------------------------


def _hiding(stop: BaseException, outer: BaseException) -> BaseException:
    """``outer`` raised while ``stop`` unwound (as anyio's cleanup does under a signal)."""
    try:
        try:
            raise stop
        finally:
            raise outer
    except BaseException as caught:
        return caught


@pytest.mark.parametrize("stop", [SystemExit(-241), KeyboardInterrupt()], ids=["exit", "interrupt"])
def test_a_stop_under_another_error_is_found(stop: BaseException) -> None:
    hidden = _hiding(stop, RuntimeError("Attempted to exit a cancel scope that isn't the current"))
    assert stopping(hidden) is stop
    assert stopping(stop) is stop
    assert stopping(httpx2.ConnectError("refused")) is None
    assert stopping(chained(httpx2.ConnectError("x"), OSError("y"))) is None


@pytest.mark.parametrize(
    "outer",
    [
        RuntimeError("Attempted to exit a cancel scope that isn't the current tasks's"),
        hx.ReadError("connection reset"),  # a transport error: would be retried
    ],
    ids=["anyio-cleanup", "transport-error"],
)
async def test_a_process_stopped_mid_request_stops_and_is_not_retried(outer: Exception) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        raise _hiding(SystemExit(-241), outer)

    opay = OPayClient(MERCHANT_ID, SECRET_KEY, transport=hx.MockTransport(handler))
    with pytest.raises(SystemExit) as caught:
        await opay.close_payment(reference="R-1", country="EG")
    assert caught.value.code == -241
    assert calls == 1
    await opay.aclose()
