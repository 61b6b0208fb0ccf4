"""Closing many payments: a bounded worker pool over a lazily pulled input."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final

from ._errors import Identity, OPayError, OPayValidationError
from ._outcome import CloseOutcome
from ._rate import RateLimiter, check_rate
from ._request import CloseRequest
from ._validation import country_code, number

if TYPE_CHECKING:
    from ._client import BeforeAttempt, OPayClient

__all__ = ["CloseInput", "CloseItem", "ProgressCallback", "close_many", "iter_close_many"]

#: One item of bulk input: a request, a plain reference (with ``country=``), or a row
#: mapping ``reference`` / ``order_no`` (or ``orderNo``) / ``country`` to values.
CloseItem = CloseRequest | str | Mapping[str, object]
#: What bulk methods accept: an iterable or async iterable of items.
CloseInput = Iterable[CloseItem] | AsyncIterable[CloseItem]
ProgressCallback = Callable[[CloseOutcome], object]


class _WorkerDone:
    """Put on the results queue by a worker that found the input exhausted."""


class _WorkerCrashed:
    """Put on the results queue by a worker that hit an exception that is not ours."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE: Final = _WorkerDone()


async def _enumerate(
    requests: CloseInput,
) -> AsyncGenerator[tuple[int, CloseItem], None]:
    index = 0
    if isinstance(requests, AsyncIterable):
        async for item in requests:
            yield index, item
            index += 1
    else:
        for item in requests:
            yield index, item
            index += 1


def _cell(row: Mapping[str, object], *names: str) -> object:
    """The first of ``names`` the row has a value for (an empty string counts as none)."""
    for name in names:
        value = row.get(name)
        if value is not None and value != "":
            return value
    return None


def _row_request(row: Mapping[str, object], country: str | None) -> CloseRequest:
    reference = _cell(row, "reference")
    order_no = _cell(row, "order_no", "orderNo")
    identity: Identity = {
        "reference": reference if isinstance(reference, str) else None,
        "order_no": order_no if isinstance(order_no, str) else None,
    }
    row_country = _cell(row, "country") or country
    if row_country is None:
        raise OPayValidationError(
            "country", "the row has none and no country=... was given", **identity
        )
    try:
        return CloseRequest(
            reference=reference,  # type: ignore[arg-type]
            order_no=order_no,  # type: ignore[arg-type]
            country=row_country,
        )
    except OPayValidationError as error:
        error.reference = error.reference or identity["reference"]
        error.order_no = error.order_no or identity["order_no"]
        raise


def _as_request(item: object, country: str | None, index: int) -> CloseRequest:
    if isinstance(item, CloseRequest):
        return item
    if isinstance(item, Mapping):
        return _row_request(item, country)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(item, str):
        if country is None:
            raise OPayValidationError(
                "country",
                "plain reference strings need country=... "
                "(or pass CloseRequest objects, which carry their own country)",
            )
        return CloseRequest(reference=item, country=country)
    raise OPayValidationError(
        f"requests[{index}]",
        f"must be a CloseRequest, a reference string or a row mapping, got {type(item).__name__}",
    )


async def _close_one(
    client: OPayClient,
    index: int,
    item: CloseItem,
    country: str | None,
    before_attempt: BeforeAttempt | None,
) -> CloseOutcome:
    try:
        request = _as_request(item, country, index)
    except OPayValidationError as error:
        if error.field == "country" and isinstance(item, str):
            raise  # a usage error of the whole call, not of this item
        if isinstance(item, str):
            error.reference = item
        return CloseOutcome(request=None, payment=None, error=error, attempts=0, index=index)
    result, attempts = await client._execute(request, before_attempt=before_attempt)  # pyright: ignore[reportPrivateUsage]
    if isinstance(result, OPayError):
        return CloseOutcome(
            request=request, payment=None, error=result, attempts=attempts, index=index
        )
    return CloseOutcome(request=request, payment=result, error=None, attempts=attempts, index=index)


async def iter_close_many(
    client: OPayClient,
    requests: CloseInput,
    *,
    country: str | None = None,
    concurrency: int = 10,
    rate_limit: float | None = None,
) -> AsyncGenerator[CloseOutcome, None]:
    """Close every item of ``requests``; yield one outcome per item as each completes.

    See :meth:`OPayClient.iter_close_many`.
    """
    default_country = None if country is None else country_code(country)
    workers_count = number("concurrency", concurrency, integer=True, at_least=1)
    rate = check_rate(rate_limit)
    before_attempt = None if rate is None else RateLimiter(rate).acquire
    if isinstance(requests, str | bytes):
        raise OPayValidationError("requests", "must be an iterable of items, not one string")

    items = _enumerate(requests)
    pull = asyncio.Lock()
    results: asyncio.Queue[CloseOutcome | _WorkerDone | _WorkerCrashed] = asyncio.Queue(
        maxsize=workers_count
    )

    async def next_item() -> tuple[int, CloseItem] | None:
        async with pull:
            try:
                return await anext(items)
            except StopAsyncIteration:
                return None

    async def work() -> None:
        try:
            while (pulled := await next_item()) is not None:
                index, item = pulled
                await results.put(
                    await _close_one(client, index, item, default_country, before_attempt)
                )
        except Exception as error:  # noqa: BLE001 (handed to the consumer, which raises it)
            await results.put(_WorkerCrashed(error))
        else:
            await results.put(_DONE)

    tasks = [asyncio.create_task(work()) for _ in range(workers_count)]
    running = len(tasks)
    try:
        while running:
            message = await results.get()
            if isinstance(message, _WorkerDone):
                running -= 1
            elif isinstance(message, _WorkerCrashed):
                raise message.error
            else:
                yield message
    finally:
        for task in tasks:
            task.cancel()
        # Wait for the workers to unwind (their requests are cancelled and their
        # connections returned); a cancelled caller still waits for this, promptly.
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await items.aclose()


async def close_many(
    client: OPayClient,
    requests: CloseInput,
    *,
    country: str | None = None,
    concurrency: int = 10,
    rate_limit: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[CloseOutcome]:
    """Close every item of ``requests``; return the outcomes in input order.

    See :meth:`OPayClient.close_many`.
    """
    outcomes: list[CloseOutcome | None] = []
    stream = iter_close_many(
        client, requests, country=country, concurrency=concurrency, rate_limit=rate_limit
    )
    async with contextlib.aclosing(stream):
        async for outcome in stream:
            missing = outcome.index + 1 - len(outcomes)
            if missing > 0:
                outcomes.extend([None] * missing)
            outcomes[outcome.index] = outcome
            if on_progress is not None:
                on_progress(outcome)
    return [outcome for outcome in outcomes if outcome is not None]
