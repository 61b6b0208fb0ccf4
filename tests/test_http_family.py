"""httpx2 by default; a caller's legacy httpx client accepted; anything else refused."""

from __future__ import annotations

import ast
import hashlib
import hmac
import importlib.util
import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import httpx2
import pytest

import opay_async
from opay_async import OPayClient, OPayHTTPError, OPayValidationError, RetryPolicy
from opay_async._http._family import HTTPX2, family_of, legacy_module, loaded_modules
from tests.helpers import LEGACY_HTTPX, MERCHANT_ID, SECRET_KEY, hx, success

PACKAGE = Path(opay_async.__file__).parent


@pytest.mark.skipif(LEGACY_HTTPX, reason="the legacy session installs httpx on purpose")
def test_a_default_install_has_no_legacy_httpx() -> None:
    for module in ("httpx", "httpcore", "httpx_aiohttp", "certifi"):
        assert importlib.util.find_spec(module) is None, f"{module} is installed"


def test_only_the_http_package_imports_an_httpx_family() -> None:
    """What depends on the family lives in opay_async/_http (and the simulator's transports)."""
    allowed = {"_http", "testing/_transport.py", "testing/_asgi.py"}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.split("/")[0] in allowed or relative in allowed:
            continue
        for line in path.read_text().splitlines():
            if line.startswith(("import httpx", "from httpx")):  # TYPE_CHECKING is indented
                pytest.fail(f"{relative}: {line}")


def test_the_library_never_aliases_httpx() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute | ast.Name | ast.alias):
                name = getattr(node, "attr", None) or getattr(node, "id", None) or node.name  # type: ignore[union-attr]
                assert name != "alias_httpx", path


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("http_client", object(), "builtins.object"),
        ("http_client", httpx2.Client(), "httpx2.Client"),  # a sync client
        ("transport", object(), "builtins.object"),
        ("transport", httpx2.HTTPTransport(), "httpx2.HTTPTransport"),
    ],
)
def test_anything_but_an_httpx_client_is_refused_at_construction(
    field: str, value: object, shown: str
) -> None:
    with pytest.raises(OPayValidationError) as caught:
        OPayClient(MERCHANT_ID, SECRET_KEY, **{field: value})  # type: ignore[arg-type]
    assert caught.value.field == field
    assert shown in str(caught.value)
    assert "httpx2." in str(caught.value)


def verified(request: object) -> bool:
    body: bytes = request.content  # type: ignore[attr-defined]
    expected = hmac.new(SECRET_KEY.encode(), body, hashlib.sha512).hexdigest()
    return request.headers["Authorization"] == f"Bearer {expected}"  # type: ignore[attr-defined,no-any-return]


async def test_a_callers_client_of_the_family_under_test_signs_the_bytes_it_sends() -> None:
    seen: list[object] = []

    def handler(request: object) -> object:
        seen.append(request)
        return hx.Response(200, json=success(json.loads(request.content)))  # type: ignore[attr-defined]

    async with hx.AsyncClient(transport=hx.MockTransport(handler)) as http:
        async with OPayClient(MERCHANT_ID, SECRET_KEY, http_client=http) as opay:
            payment = await opay.close_payment(reference="FAMILY-1", country="EG")
        assert not http.is_closed  # the caller's, never closed by the SDK
    assert payment.reference == "FAMILY-1"
    [request] = seen
    assert type(request).__module__.split(".")[0] == hx.__name__
    assert verified(request)
    assert request.headers["MerchantId"] == MERCHANT_ID  # type: ignore[attr-defined]
    assert ("httpx" in sys.modules) is LEGACY_HTTPX  # recognised without importing httpx


async def test_a_callers_client_that_follows_redirects_does_not_for_the_sdk() -> None:
    """A 307 to elsewhere would re-send the signed POST there: it is an error instead."""
    hosts: list[str] = []

    def handler(request: object) -> object:
        hosts.append(request.url.host)  # type: ignore[attr-defined]
        if request.url.host == "elsewhere.test":  # type: ignore[attr-defined]
            return hx.Response(200, json=success(json.loads(request.content)))  # type: ignore[attr-defined]
        return hx.Response(307, headers={"Location": "https://elsewhere.test/close"})

    transport = hx.MockTransport(handler)
    async with hx.AsyncClient(transport=transport, follow_redirects=True) as http:
        async with OPayClient(
            MERCHANT_ID, SECRET_KEY, http_client=http, retry=RetryPolicy.none()
        ) as opay:
            with pytest.raises(OPayHTTPError) as caught:
                await opay.close_payment(reference="REDIRECT-1", country="EG")
    assert caught.value.status_code == 307
    assert hosts == ["sandboxapi.opaycheckout.com"]


def test_an_application_that_aliased_httpx_works(tmp_path: Path) -> None:
    """After ``httpx2.alias_httpx()``, ``import httpx`` is httpx2: one family, still served."""
    script = textwrap.dedent(
        """
        import asyncio, json
        import httpx2
        httpx2.alias_httpx()
        import httpx
        assert httpx is httpx2
        from opay_async import OPayClient

        def handler(request):
            body = json.loads(request.content)
            return httpx.Response(200, json={"code": "00000", "message": "SUCCESSFUL", "data": {
                "reference": body["reference"], "country": "EG", "orderStatus": "CLOSE"}})

        async def main():
            async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
                async with OPayClient("256612345678901", "OPAYPRV_x", http_client=http) as opay:
                    print((await opay.close_payment(reference="ALIAS-1", country="EG")).reference)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ALIAS-1"


class _LegacyClient:
    """Stands in for legacy ``httpx.AsyncClient`` in a module named ``httpx``."""


def fake_legacy_httpx() -> types.ModuleType:
    module = types.ModuleType("httpx")
    module.AsyncClient = _LegacyClient  # type: ignore[attr-defined]
    module.AsyncBaseTransport = type("AsyncBaseTransport", (), {})  # type: ignore[attr-defined]
    return module


def test_legacy_httpx_is_found_only_where_the_application_imported_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "httpx", raising=False)
    assert legacy_module() is None
    assert loaded_modules() == (httpx2,)
    legacy = fake_legacy_httpx()
    monkeypatch.setitem(sys.modules, "httpx", legacy)
    assert legacy_module() is legacy
    assert loaded_modules() == (httpx2, legacy)
    family = family_of("http_client", _LegacyClient(), kind="AsyncClient")
    assert (family.module, family.name, family.is_legacy) == (legacy, "httpx", True)
    assert family_of("http_client", httpx2.AsyncClient(), kind="AsyncClient") == HTTPX2
    assert not HTTPX2.is_legacy


@pytest.mark.parametrize(
    "module",
    [
        httpx2,  # httpx2.alias_httpx() was called: one family
        types.ModuleType("httpx"),  # something named httpx that is not httpx
        None,  # a test blocked the import
    ],
    ids=["aliased", "not-httpx", "blocked"],
)
def test_what_is_not_legacy_httpx_is_not_taken_for_it(
    module: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "httpx", module)
    assert legacy_module() is None
    assert loaded_modules() == (httpx2,)
    with pytest.raises(OPayValidationError) as caught:
        family_of("transport", _LegacyClient(), kind="AsyncBaseTransport")
    assert str(caught.value) == (
        "transport: must be an httpx2.AsyncBaseTransport (or a legacy "
        "httpx.AsyncBaseTransport), got tests.test_http_family._LegacyClient"
    )
