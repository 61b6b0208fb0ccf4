"""Closing many payments: a bounded worker pool over a lazily pulled input."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Final, Protocol

from ._errors import Identity, OPayValidationError
from ._outcome import CloseOutcome
from ._rate import RateLimiter, check_rate
from ._request import CloseRequest
from ._stop import RunStop
from ._telemetry import Telemetry
from ._validation import MAX_CONNECTIONS, country_code, flag, number

__all__ = [
    "CloseInput",
    "CloseItem",
    "ProgressCallback",
    "Send",
    "close_many",
    "iter_close_many",
]

CloseItem = CloseRequest | str | Mapping[str, object]
"""One item of bulk input: a [`CloseRequest`][opay_async.CloseRequest], a plain reference
(with ``country=``), or a row mapping ``reference`` / ``order_no`` (or ``orderNo``) /
``country`` to values."""
CloseInput = Iterable[CloseItem] | AsyncIterable[CloseItem]
"""What bulk methods accept: an iterable or an async iterable of items.

Each item is a [`CloseItem`][opay_async._bulk.CloseItem].
"""
ProgressCallback = Callable[[CloseOutcome], object]


class Send(Protocol):
    """What bulk closing is handed: a function closing one request (``Sender.send``)."""

    def __call__(
        self,
        request: CloseRequest,
        /,
        *,
        index: int = 0,
        limiter: RateLimiter | None = None,
        run: RunStop | None = None,
    ) -> Awaitable[CloseOutcome]:
        """Close ``request``; the outcome carries ``index``; ``limiter`` paces the attempts.

        A fatal answer stops ``run``; once it is stopped, nothing is sent.
        """
        ...


class _WorkerDone:
    """Put on the results queue by a worker that found the input exhausted."""


class _WorkerCrashed:
    """Put on the results queue by a worker that hit an exception that is not ours."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE: Final = _WorkerDone()


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
    send: Send,
    index: int,
    item: CloseItem,
    country: str | None,
    limiter: RateLimiter | None,
    *,
    run: RunStop | None,
) -> CloseOutcome:
    try:
        request = _as_request(item, country, index)
    except OPayValidationError as error:
        if error.field == "country" and isinstance(item, str):
            raise  # a usage error of the whole call, not of this item
        if isinstance(item, str):
            error.reference = item
        return CloseOutcome(request=None, payment=None, error=error, attempts=0, index=index)
    return await send(request, index=index, limiter=limiter, run=run)


class _Input:
    """The input, pulled by the workers one item at a time, and closed when the run ends.

    A sync iterable is pulled without a lock (``next`` does not await, so no other worker
    runs meanwhile); an async one under a lock.
    """

    __slots__ = ("_count", "_items", "_lock", "_sync")

    def __init__(self, requests: CloseInput) -> None:
        self._count = itertools.count()
        self._sync: Iterator[CloseItem] | None = None
        self._items: AsyncIterator[CloseItem] | None = None
        if isinstance(requests, AsyncIterable):
            self._items = aiter(requests)
        else:
            self._sync = iter(requests)
        self._lock = asyncio.Lock()

    async def pull(self) -> tuple[int, CloseItem] | None:
        """The next item and its index; ``None`` at the end."""
        if self._sync is not None:
            for item in self._sync:  # the next one, if any
                return next(self._count), item
            return None
        assert self._items is not None
        async with self._lock:
            try:
                item = await anext(self._items)
            except StopAsyncIteration:
                return None
            return next(self._count), item

    async def aclose(self) -> None:
        """Close the iterator this run opened (a generator, a database cursor)."""
        with contextlib.suppress(Exception):
            close = getattr(self._sync, "close", None)
            if close is not None:
                close()
            aclose = getattr(self._items, "aclose", None)
            if aclose is not None:
                await aclose()


async def iter_close_many(
    send: Send,
    requests: CloseInput,
    *,
    country: str | None = None,
    concurrency: int = 10,
    rate_limit: float | None = None,
    stop_on_fatal: bool = True,
    telemetry: Telemetry | None = None,
) -> AsyncGenerator[CloseOutcome, None]:
    """Close every item of ``requests`` with ``send``; yield each outcome as it completes.

    See ``OPayClient.iter_close_many``. With ``telemetry``, the run is a span
    (``opay.close_many``) whose children are its closes: each worker runs in a copy of
    the context with the run's span current.
    """
    default_country = None if country is None else country_code(country)
    workers_count = number(
        "concurrency", concurrency, integer=True, at_least=1, at_most=MAX_CONNECTIONS
    )
    rate = check_rate(rate_limit)
    limiter = None if rate is None else RateLimiter(rate)
    if isinstance(requests, str | bytes):
        raise OPayValidationError("requests", "must be an iterable of items, not one string")
    run = RunStop() if flag("stop_on_fatal", stop_on_fatal) else None

    items = _Input(requests)
    results: asyncio.Queue[CloseOutcome | _WorkerDone | _WorkerCrashed] = asyncio.Queue(
        maxsize=workers_count
    )

    async def work() -> None:
        try:
            while (pulled := await items.pull()) is not None:
                index, item = pulled
                outcome = await _close_one(send, index, item, default_country, limiter, run=run)
                await results.put(outcome)
        except Exception as error:  # noqa: BLE001 (handed to the consumer, which raises it)
            await results.put(_WorkerCrashed(error))
        else:
            await results.put(_DONE)

    trace = None if telemetry is None else telemetry.start_run()
    tasks = [
        asyncio.create_task(work(), context=None if trace is None else trace.context())
        for _ in range(workers_count)
    ]
    running = len(tasks)
    ended: BaseException | None = None
    try:
        while running:
            message = await results.get()
            if isinstance(message, _WorkerDone):
                running -= 1
            elif isinstance(message, _WorkerCrashed):
                raise message.error  # noqa: TRY301 (a worker's bug, raised to the caller)
            else:
                if trace is not None:
                    trace.count(message)
                yield message
    except GeneratorExit:  # the caller left the loop: the run ends there, not in error
        raise
    except BaseException as error:  # re-raised: the run's span says how it ended
        ended = error
        raise
    finally:
        for task in tasks:
            task.cancel()
        # Wait for the workers to unwind (their requests are cancelled and their
        # connections returned); a cancelled caller still waits for this, promptly.
        await asyncio.gather(*tasks, return_exceptions=True)
        await items.aclose()
        if trace is not None:
            trace.end(None if run is None else run.stopped_by, ended)


async def close_many(
    send: Send,
    requests: CloseInput,
    *,
    country: str | None = None,
    concurrency: int = 10,
    rate_limit: float | None = None,
    on_progress: ProgressCallback | None = None,
    stop_on_fatal: bool = True,
    telemetry: Telemetry | None = None,
) -> list[CloseOutcome]:
    """Close every item of ``requests`` with ``send``; return the outcomes in input order.

    See ``OPayClient.close_many``.
    """
    outcomes: list[CloseOutcome | None] = []
    stream = iter_close_many(
        send,
        requests,
        country=country,
        concurrency=concurrency,
        rate_limit=rate_limit,
        stop_on_fatal=stop_on_fatal,
        telemetry=telemetry,
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
