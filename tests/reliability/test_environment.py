"""The environment is hostile too: proxies, CA bundles, CRLF .env files, certificates that lie.

Every network peer here is a raw server on 127.0.0.1: a TLS server with a certificate
from a test CA (trustme), a recording proxy. Nothing leaves the machine: a CONNECT to
OPay's sandbox that reaches the local proxy proves the proxy is used.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx2
import pytest
import trustme
from httpx2._utils import get_environment_proxies  # the oracle: httpx's own routing
from hypothesis import given
from hypothesis import strategies as st

from opay_async import (
    CloseOutcome,
    OPayClient,
    OPayConnectionError,
    OPayValidationError,
    RetryPolicy,
    ShardedTransport,
)
from opay_async._http._proxies import environment_routes
from opay_async.testing import FakeOPay
from tests.helpers import (
    MERCHANT_ID,
    SECRET_KEY,
    RawServer,
    answering,
    http_head,
    hx,
    own_pool,
)

BACKENDS = ["httpx2", "aiohttp"]
PROXY_VARIABLES = [
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUEST_METHOD",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def closed_answer(reference: str) -> bytes:
    return json.dumps(
        {
            "code": "00000",
            "message": "SUCCESSFUL",
            "data": {"reference": reference, "country": "EG", "orderStatus": "CLOSE"},
        }
    ).encode()


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def tls_server(ca: trustme.CA, *names: str) -> RawServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return RawServer(answering(200, closed_answer("TLS-1")), tls=context)


async def close_once(base_url: str, backend: str, **options: object) -> CloseOutcome:
    """Close TLS-1 with up to four attempts (retries without waits)."""
    async with OPayClient(
        MERCHANT_ID,
        SECRET_KEY,
        base_url=base_url,
        backend=backend,  # type: ignore[arg-type]
        retry=RetryPolicy(attempts=4, wait_initial=0, wait_max=0),
        timeout=5,
        **options,  # type: ignore[arg-type]
    ) as opay:
        [outcome] = await opay.close_many(["TLS-1"], country="EG")
    return outcome


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_untrusted_certificate_is_named_and_not_retried(
    ca: trustme.CA, backend: str
) -> None:
    async with tls_server(ca, "127.0.0.1").running() as base_url:
        outcome = await close_once(base_url, backend)
    error = outcome.error
    assert type(error) is OPayConnectionError  # not OPayTimeoutError, on either backend
    assert "TLS certificate verification failed" in str(error)
    assert "unable to get local issuer certificate" in str(error)
    assert not error.retryable
    assert outcome.attempts == 1  # not four


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_certificate_for_another_host_is_named_and_not_retried(
    ca: trustme.CA, ca_file: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    async with tls_server(ca, "opay.example.test").running() as base_url:
        outcome = await close_once(base_url, backend)
    assert isinstance(outcome.error, OPayConnectionError)
    assert "TLS certificate verification failed" in str(outcome.error)
    assert "mismatch" in str(outcome.error)
    assert outcome.attempts == 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_ssl_cert_file_is_honoured_unless_trust_env_is_off(
    ca: trustme.CA, ca_file: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", f"{ca_file}\r")  # as a CRLF .env file leaves it
    async with tls_server(ca, "127.0.0.1").running() as base_url:
        trusted = await close_once(base_url, backend)
        untrusted = await close_once(base_url, backend, trust_env=False)
    assert trusted.ok, trusted.error
    assert isinstance(untrusted.error, OPayConnectionError)


def test_a_ca_location_that_holds_no_certificates_is_refused_at_once(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_bytes(b"\x00not a certificate")
    for value in (str(tmp_path / "missing.pem"), str(garbage)):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SSL_CERT_FILE", value)
            with pytest.raises(OPayValidationError, match="SSL_CERT_FILE: cannot load"):
                OPayClient(MERCHANT_ID, SECRET_KEY)


# -- proxies ---------------------------------------------------------------------------


class RecordingProxy:
    """Records the first line and headers of what reaches it; refuses CONNECT, relays nothing.

    A plain-HTTP request in absolute form (``POST http://host/path``) is answered with
    OPay's success, so a client that went through the proxy succeeds.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        first, *lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines if line)
        }
        self.seen.append((first, headers))
        if first.startswith("CONNECT "):
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        else:
            await reader.readexactly(int(headers.get("content-length", "0")))
            body = closed_answer("PROXIED-1")
            writer.write(http_head(200, Content_Length=str(len(body))) + body)
        await writer.drain()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_https_proxy_is_used_for_opay_as_plain_httpx_uses_it(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = RecordingProxy()
    async with RawServer(proxy).running() as proxy_url:
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        async with httpx2.AsyncClient() as plain:
            with pytest.raises(httpx2.ProxyError):
                await plain.post("https://sandboxapi.opaycheckout.com/x", content=b"{}")
        monkeypatch.setenv("HTTPS_PROXY", f"{proxy_url}\r")  # as a CRLF .env file leaves it
        async with OPayClient(
            MERCHANT_ID,
            SECRET_KEY,
            backend=backend,
            retry=RetryPolicy.none(),  # type: ignore[arg-type]
        ) as opay:
            with pytest.raises(OPayConnectionError) as caught:
                await opay.close_payment(reference="PROXY-1", country="EG")
    plain_line, sdk_line = (first for first, _ in proxy.seen)
    assert plain_line == sdk_line == "CONNECT sandboxapi.opaycheckout.com:443 HTTP/1.1"
    assert not caught.value.retryable  # the proxy refused: retrying would not help


async def test_proxy_credentials_are_sent_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = RecordingProxy()
    async with RawServer(proxy).running() as proxy_url:
        monkeypatch.setenv("HTTPS_PROXY", proxy_url.replace("://", "://ops:pa55word@"))
        async with OPayClient(MERCHANT_ID, SECRET_KEY, retry=RetryPolicy.none()) as opay:
            assert "pa55word" not in repr(opay)
            with pytest.raises(OPayConnectionError) as caught:
                await opay.close_payment(reference="PROXY-1", country="EG")
    assert proxy.seen[0][1]["proxy-authorization"].startswith("Basic ")
    assert "pa55word" not in str(caught.value) + repr(caught.value)


@pytest.mark.parametrize(
    ("no_proxy", "through_proxy"),
    [
        ("", True),
        ("127.0.0.1", False),
        ("localhost,127.0.0.1", False),
        ("*", False),
        ("10.0.0.1", True),
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_no_proxy_decides_as_it_does_for_plain_httpx(
    no_proxy: str, through_proxy: bool, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = RecordingProxy()
    direct = RawServer(answering(200, closed_answer("DIRECT-1")))
    async with RawServer(proxy).running() as proxy_url, direct.running() as base_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", no_proxy)
        async with httpx2.AsyncClient() as plain:
            await plain.post(f"{base_url}/x", content=b"{}")
        plain_used_proxy = bool(proxy.seen)
        proxy.seen.clear()
        async with OPayClient(
            MERCHANT_ID,
            SECRET_KEY,
            base_url=base_url,
            backend=backend,
            retry=RetryPolicy.none(),  # type: ignore[arg-type]
        ) as opay:
            payment = await opay.close_payment(
                reference="PROXIED-1" if through_proxy else "DIRECT-1", country="EG"
            )
    assert payment.is_closed
    assert plain_used_proxy is through_proxy
    assert bool(proxy.seen) is through_proxy
    if through_proxy:
        assert proxy.seen[0][0].startswith(f"POST {base_url}/api/v1/international/payment/close ")


async def test_trust_env_false_ignores_the_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    async with OPayClient(MERCHANT_ID, SECRET_KEY) as opay:
        assert (await own_pool(opay))._mounts  # routed through the proxy
    async with OPayClient(MERCHANT_ID, SECRET_KEY, trust_env=False) as opay:
        assert not (await own_pool(opay))._mounts


@pytest.mark.parametrize("value", ["http://proxy:bad", "ftp://proxy:21", "http://pro xy:3128"])
def test_a_proxy_variable_that_is_not_a_url_is_refused_without_echoing_it(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", value)
    with pytest.raises(OPayValidationError, match="HTTPS_PROXY") as caught:
        OPayClient(MERCHANT_ID, SECRET_KEY)
    assert value not in str(caught.value)


# -- OPAY_* variables written by a CRLF .env file --------------------------------------


async def test_crlf_values_in_the_environment_work(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOPay(auto_create=True)
    monkeypatch.setenv("OPAY_MERCHANT_ID", f"{fake.merchant_id}\r")
    monkeypatch.setenv("OPAY_SECRET_KEY", f"{fake.secret_key}\r\n")
    monkeypatch.setenv("OPAY_ENVIRONMENT", "production\r")
    monkeypatch.setenv("OPAY_BASE_URL", "http://127.0.0.1:8000/\r")
    async with OPayClient.from_env(transport=fake.transport) as opay:
        assert opay.url_for("EG") == "http://127.0.0.1:8000/api/v1/international/payment/close"
        payment = await opay.close_payment(reference="CRLF-1", country="EG")
    assert payment.is_closed
    assert fake.requests[-1].verified  # the carriage return was not signed with


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("https://example.com:bad", "not a valid URL"),
        ("http://127.0.0.1:8000/\n\x00", "not a valid URL"),
        ("https://exa mple.com", "spaces or control characters"),
        ("https://ops:pa55word@example.com", "credentials"),
        ("https://example.com/?x=1", "query"),
        ("https://example.com:70000", "port"),
        ("http://example.com", "https://"),
    ],
)
def test_base_urls_httpx_would_refuse_later_are_refused_now(base_url: str, problem: str) -> None:
    with pytest.raises(OPayValidationError, match=problem) as caught:
        OPayClient(MERCHANT_ID, SECRET_KEY, base_url=base_url)
    assert caught.value.field == "base_url"
    assert "pa55word" not in str(caught.value)


# -- the routing of proxies is httpx's ---------------------------------------------------

HOSTS = st.sampled_from(
    [
        "example.com", ".example.com", "opaycheckout.com", "localhost", "127.0.0.1",
        "10.0.0.0/8", "::1", "fe80::1", "http://internal.test", "*", "", " spaced.test ",
    ]
)  # fmt: skip
PROXIES = st.none() | st.sampled_from(
    ["proxy:3128", "http://proxy.test:8080", "https://user:pw@proxy.test:443", "socks5://s:1080"]
)


@given(
    https=PROXIES,
    http=PROXIES,
    all_=PROXIES,
    no_proxy=st.lists(HOSTS, max_size=4),
    lower=st.booleans(),
)
def test_proxy_routes_are_the_ones_httpx_makes(
    https: str | None, http: str | None, all_: str | None, no_proxy: list[str], lower: bool
) -> None:
    variables = {"HTTPS_PROXY": https, "HTTP_PROXY": http, "ALL_PROXY": all_}
    environment = {
        (name.lower() if lower else name): value
        for name, value in variables.items()
        if value is not None
    }
    environment["no_proxy" if lower else "NO_PROXY"] = ",".join(no_proxy)
    with pytest.MonkeyPatch.context() as patch:
        for name in PROXY_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in environment.items():
            patch.setenv(name, value)
        assert environment_routes() == get_environment_proxies()


@pytest.fixture(scope="module")
def ca_dir(ca_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA directory as OpenSSL reads one: each certificate named by its subject hash."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to name the certificate by its hash")
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.strip()
    folder = tmp_path_factory.mktemp("ca-dir")
    shutil.copy(ca_file, folder / f"{subject_hash}.0")
    return folder


@pytest.mark.parametrize("backend", BACKENDS)
async def test_ssl_cert_dir_is_honoured_unless_trust_env_is_off(
    ca: trustme.CA, ca_dir: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", f"{ca_dir}\r")
    async with tls_server(ca, "127.0.0.1").running() as base_url:
        trusted = await close_once(base_url, backend)
        untrusted = await close_once(base_url, backend, trust_env=False)
    assert trusted.ok, trusted.error
    assert isinstance(untrusted.error, OPayConnectionError)
    assert "TLS certificate verification failed" in str(untrusted.error)


async def test_a_callers_client_verifies_with_its_own_ssl_context(ca: trustme.CA) -> None:
    """``verify=ssl.SSLContext`` on the caller's client (either family) is what counts."""
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with tls_server(ca, "127.0.0.1").running() as base_url:
        async with hx.AsyncClient(verify=trusting) as trusted_http:
            trusted = await close_once(base_url, "httpx2", http_client=trusted_http)
        async with hx.AsyncClient(verify=ssl.create_default_context()) as untrusted_http:
            untrusted = await close_once(base_url, "httpx2", http_client=untrusted_http)
    assert trusted.ok, trusted.error
    error = untrusted.error
    assert type(error) is OPayConnectionError
    assert "unable to get local issuer certificate" in str(error)
    assert not error.retryable
    assert untrusted.attempts == 1


async def test_a_sharded_transport_takes_an_ssl_context(ca: trustme.CA) -> None:
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with tls_server(ca, "127.0.0.1").running() as base_url:
        outcome = await close_once(
            base_url, "httpx2", transport=ShardedTransport(max_connections=4, verify=trusting)
        )
    assert outcome.ok, outcome.error
