"""The contenders: what each client does to close N payments at concurrency C.

Every contender is a coroutine ``(url, concurrency, measure) -> Tally``: it sets its client
up, hands ``measure`` a ``batch`` coroutine that closes a list of references and counts
the answers, and closes its client. ``measure`` (in ``_worker.py``) decides what is timed.
Each function imports its own libraries, so a worker process loads only what its
contender uses.

The raw contenders sign each body by hand (HMAC-SHA512 over compact, sorted JSON, as the
SDK does), send it under a semaphore of C over ``asyncio.gather`` of N tasks, and
``json.loads`` the answer. The SDK contenders call ``OPayClient.close_many``, and only
the SDK's public API. Every answer is checked: code ``00000``, status ``CLOSE``, the
reference echoed back.

The SDK sends with httpx2; legacy httpx is here only as the "raw httpx" contender, and
no SDK worker imports it (``_worker.py`` reports the HTTP libraries each run loaded).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib.util
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

PATH: Final = "/api/v1/international/payment/close"
MERCHANT: Final = "256612345678901"
KEY: Final = "OPAYPRV_benchmark_key"
#: Failure messages a worker reports (the count is always complete).
ERRORS_KEPT: Final = 5
#: What installs the optional libraries the aiohttp contenders need.
AIOHTTP_INSTALL: Final = "python -m pip install '.[aiohttp]'"
#: What installs legacy httpx, which only the raw httpx contender uses.
BENCH_INSTALL: Final = "python -m pip install 'httpx>=0.28'"


@dataclass(frozen=True)
class Contender:
    """One way of closing payments: its label and the modules it needs."""

    name: str
    label: str
    modules: tuple[str, ...]
    install: str = ""  # the command that installs ``modules`` when they are missing
    sdk: bool = False  # runs opay_async, so it can also run from a baseline revision


CONTENDERS: Final = {
    contender.name: contender
    for contender in (
        Contender("raw-httpx", "raw httpx (legacy)", ("httpx",), BENCH_INSTALL),
        Contender("raw-httpx2", "raw httpx2", ("httpx2",)),
        Contender("raw-aiohttp", "raw aiohttp", ("aiohttp",), AIOHTTP_INSTALL),
        Contender("sdk-httpx2", "SDK (httpx2)", ("httpx2",), sdk=True),
        Contender("sdk-httpx2-stock", "SDK (httpx2, stock pool)", ("httpx2",), sdk=True),
        Contender("sdk-aiohttp", "SDK (aiohttp)", ("aiohttp",), AIOHTTP_INSTALL, sdk=True),
    )
}
#: ``sdk-shards-S``: the SDK on ``ShardedTransport(max_connections=C, shard_size=S)``.
SHARDS: Final = re.compile(r"sdk-shards-([1-9][0-9]*)")


def contender(name: str) -> Contender:
    """The contender ``name`` names: one of ``CONTENDERS``, or ``sdk-shards-S``.

    Raises:
        KeyError: No such contender.
    """
    if name in CONTENDERS:
        return CONTENDERS[name]
    match = SHARDS.fullmatch(name)
    if match is None:
        raise KeyError(name)
    return Contender(name, f"SDK (httpx2, shards of {match[1]})", ("httpx2",), sdk=True)


#: The HTTP libraries a worker reports having imported.
HTTP_MODULES: Final = ("httpx", "httpcore", "httpx2", "httpcore2", "aiohttp")


def base_name(key: str) -> str:
    """The contender a run key names: ``sdk-httpx2@1a2b3c4`` runs ``sdk-httpx2``."""
    return key.partition("@")[0]


def revision(key: str) -> str | None:
    """The baseline revision a run key names (``sdk-httpx2@1a2b3c4``), or None."""
    return key.partition("@")[2] or None


def label(key: str) -> str:
    """A run key's label: ``SDK (httpx2)``, or ``SDK (httpx2) @1a2b3c4`` for a baseline."""
    rev = revision(key)
    text = contender(base_name(key)).label
    return f"{text} @{rev}" if rev else text


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """Those of ``modules`` this interpreter cannot import."""
    return [module for module in modules if importlib.util.find_spec(module) is None]


def available(names: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Those of ``names`` whose libraries are installed; the missing modules of the others."""
    ready: list[str] = []
    skipped: dict[str, list[str]] = {}
    for name in names:
        missing = missing_modules(contender(name).modules)
        if missing:
            skipped[name] = missing
        else:
            ready.append(name)
    return ready, skipped


def signed(reference: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one close, signed as the SDK signs it."""
    body = json.dumps(
        {"country": "EG", "reference": reference}, separators=(",", ":"), sort_keys=True
    ).encode()
    signature = hmac.new(KEY.encode(), body, hashlib.sha512).hexdigest()
    headers = {
        "Authorization": f"Bearer {signature}",
        "MerchantId": MERCHANT,
        "Content-Type": "application/json",
    }
    return body, headers


@dataclass
class Tally:
    """Closes that succeeded and failed in one batch, with the first failures' messages."""

    ok: int = 0
    failed: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list[str])

    def fail(self, reference: str, message: str) -> None:
        """Count one failed close, keeping the first few messages."""
        self.failed += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(f"{reference}: {message}")

    def check_answer(self, reference: str, status: int, content: bytes) -> None:
        """Count a raw answer: it must be the OPay success JSON for ``reference``."""
        try:
            answer = json.loads(content)
            data = answer["data"]
            good = (
                status == 200
                and answer["code"] == "00000"
                and data["orderStatus"] == "CLOSE"
                and data["reference"] == reference
            )
        except (ValueError, KeyError, TypeError) as error:
            self.fail(reference, f"unreadable answer ({error!r}): {content[:120]!r}")
            return
        if good:
            self.ok += 1
        else:
            self.fail(reference, f"HTTP {status}: {content[:120]!r}")

    def count_outcome(self, reference: str, outcome: Any) -> None:
        """Count one ``CloseOutcome``: it must be a closed payment for ``reference``."""
        self.retries += max(0, outcome.attempts - 1)
        if not outcome.ok:
            self.fail(reference, repr(outcome.error))
        elif not outcome.payment.is_closed or outcome.payment.reference != reference:
            self.fail(reference, f"unexpected payment {outcome.payment!r}")
        else:
            self.ok += 1


Batch = Callable[[list[str]], Awaitable[Tally]]
Measure = Callable[[Batch], Awaitable[Tally]]


async def _raw_httpx(url: str, concurrency: int, measure: Measure, httpx: Any) -> Tally:
    """A raw ``AsyncClient`` of module ``httpx`` (legacy httpx or httpx2), its own pool."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def batch(references: list[str]) -> Tally:
            tally = Tally()

            async def one(reference: str) -> None:
                try:
                    async with semaphore:
                        body, headers = signed(reference)
                        response = await client.post(url, content=body, headers=headers)
                    tally.check_answer(reference, response.status_code, response.content)
                except Exception as error:
                    tally.fail(reference, repr(error))

            await asyncio.gather(*(one(reference) for reference in references))
            return tally

        return await measure(batch)


async def raw_httpx(url: str, concurrency: int, measure: Measure) -> Tally:
    """One legacy ``httpx.AsyncClient`` with ``Limits(max_connections=C)``: httpcore's pool."""
    import httpx

    return await _raw_httpx(url, concurrency, measure, httpx)


async def raw_httpx2(url: str, concurrency: int, measure: Measure) -> Tally:
    """One ``httpx2.AsyncClient`` with ``Limits(max_connections=C)``: httpcore2's pool."""
    import httpx2

    return await _raw_httpx(url, concurrency, measure, httpx2)


async def raw_aiohttp(url: str, concurrency: int, measure: Measure) -> Tally:
    """One ``aiohttp.ClientSession`` with ``TCPConnector(limit=C)``."""
    import aiohttp

    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def batch(references: list[str]) -> Tally:
            tally = Tally()

            async def one(reference: str) -> None:
                try:
                    async with semaphore:
                        body, headers = signed(reference)
                        async with session.post(url, data=body, headers=headers) as response:
                            content = await response.read()
                    tally.check_answer(reference, response.status, content)
                except Exception as error:
                    tally.fail(reference, repr(error))

            await asyncio.gather(*(one(reference) for reference in references))
            return tally

        return await measure(batch)


def _stock_transport(concurrency: int) -> Any:
    """httpx2's own pool of C connections, for the client the SDK makes around it."""
    import httpx2

    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx2.AsyncHTTPTransport(limits=limits)


async def sdk(base_url: str, concurrency: int, backend: str, measure: Measure) -> Tally:
    """``OPayClient(backend=...).close_many(references, country="EG", concurrency=C)``.

    ``backend="stock"``: ``OPayClient(transport=httpx2.AsyncHTTPTransport(limits=C))``,
    the SDK on httpx2's stock pool in place of its own ``ShardedTransport``; ``backend``
    a number S: ``transport=ShardedTransport(max_connections=C, shard_size=S)``.
    """
    from opay_async import OPayClient

    options: dict[str, Any]
    if backend == "stock":
        options = {"transport": _stock_transport(concurrency)}
    elif backend.isdigit():
        from opay_async import ShardedTransport

        options = {
            "transport": ShardedTransport(max_connections=concurrency, shard_size=int(backend))
        }
    else:
        options = {"backend": backend, "max_connections": concurrency}
    async with OPayClient(MERCHANT, KEY, base_url=base_url, **options) as opay:

        async def batch(references: list[str]) -> Tally:
            tally = Tally()
            outcomes = await opay.close_many(references, country="EG", concurrency=concurrency)
            if len(outcomes) != len(references):
                tally.fail("*", f"{len(outcomes)} outcomes for {len(references)} references")
            for reference, outcome in zip(references, outcomes, strict=False):
                tally.count_outcome(reference, outcome)
            return tally

        return await measure(batch)


async def stream(base_url: str, items: int, concurrency: int, backend: str) -> Tally:
    """``iter_close_many`` over a generator of ``items`` references; nothing kept."""
    from opay_async import OPayClient

    def references() -> Iterator[str]:
        for number in range(items):
            yield f"MEM-{number}"

    tally = Tally()
    async with OPayClient(
        MERCHANT,
        KEY,
        base_url=base_url,
        backend=backend,  # type: ignore[arg-type]
        max_connections=concurrency,
    ) as opay:
        # Any: whether the SDK types it as an AsyncIterator or an AsyncGenerator, it closes.
        outcomes: Any = opay.iter_close_many(references(), country="EG", concurrency=concurrency)
        async with contextlib.aclosing(outcomes):
            async for outcome in outcomes:
                tally.count_outcome(f"MEM-{outcome.index}", outcome)
    return tally


async def run(name: str, base_url: str, concurrency: int, measure: Measure) -> Tally:
    """Run contender ``name`` against the server at ``base_url``."""
    if name == "raw-httpx":
        return await raw_httpx(base_url + PATH, concurrency, measure)
    if name == "raw-httpx2":
        return await raw_httpx2(base_url + PATH, concurrency, measure)
    if name == "raw-aiohttp":
        return await raw_aiohttp(base_url + PATH, concurrency, measure)
    if name in ("sdk-httpx2", "sdk-aiohttp"):
        return await sdk(base_url, concurrency, name.removeprefix("sdk-"), measure)
    if name == "sdk-httpx2-stock":
        return await sdk(base_url, concurrency, "stock", measure)
    if match := SHARDS.fullmatch(name):
        return await sdk(base_url, concurrency, match[1], measure)
    raise ValueError(f"unknown contender {name!r}")
