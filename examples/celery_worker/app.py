"""The Celery app: a task closing one chunk of payments, one OPay client per worker process.

Start a worker (prefork pool: ``--concurrency`` processes, each with its own client):

    celery -A examples.celery_worker.app worker --pool prefork --concurrency 4

The broker and the result backend come from ``CELERY_BROKER_URL`` and
``CELERY_RESULT_BACKEND`` (see :mod:`examples.celery_worker.settings`), the client from
``OPAY_*`` as ``OPayClient.from_env()`` reads them.

Celery tasks are synchronous and the client is async. Each worker process keeps **one
event loop** (an ``asyncio.Runner``) for its whole life, created with the client when the
process starts: the client's pooled connections belong to the loop that opened them, so
an ``asyncio.run()`` per task (a new loop each time) would break its pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

# Celery ships no type hints (no py.typed): its objects are ``Any`` here, and what the
# example uses of them is typed by the Protocol below.
from celery import Celery, signals  # type: ignore[import-untyped]

from opay_async import CloseRecord, OPayClient

from . import tracing
from .records import Item, StopMark, failed_records
from .settings import WorkerSettings, celery_config, make_local_folders

__all__ = [
    "ChunkTask",
    "Item",
    "app",
    "close_chunk",
    "close_chunk_task",
    "close_items",
    "count_delivery",
    "deliveries_key",
    "mark_stop",
    "read_stop",
    "records_id",
    "stop_key",
    "stored_stop",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)

# --8<-- [start:app]
app: Any = Celery("opay_celery_worker")
app.conf.update(celery_config(os.environ))
make_local_folders(os.environ)  # for the serverless default broker and backend only
# --8<-- [end:app]


async def close_items(
    opay: OPayClient,
    items: Sequence[Item],
    *,
    country: str | None,
    concurrency: int,
    stop_on_fatal: bool = True,
) -> tuple[list[CloseRecord], CloseRecord | None]:
    """Close ``items`` with ``iter_close_many``; one record per item, in the items' order.

    Records are JSON-ready (``CloseOutcome.to_record()``): reference, order_no, country,
    ``ok`` (closed), the order status OPay reported, the error's type, code and message,
    whether a retry may succeed, and the attempts made. A failure is a record, never an
    exception. With ``stop_on_fatal``, the first answer no later request can change (a
    dead key: ``OPayError.fatal``) stops the chunk: the items not sent get
    ``RunStoppedError`` records.

    Returns:
        The records, and the record of the first fatal failure (``None`` if none).
    """
    records: list[CloseRecord] = []
    fatal: CloseRecord | None = None
    outcomes = opay.iter_close_many(
        items, country=country, concurrency=concurrency, stop_on_fatal=stop_on_fatal
    )
    async with contextlib.aclosing(outcomes):
        async for outcome in outcomes:
            record = outcome.to_record()
            records.append(record)
            if fatal is None and outcome.error is not None and outcome.error.fatal:
                fatal = record
    records.sort(key=lambda record: record["index"])
    return records, fatal


# --8<-- [start:process]
@dataclass
class _Process:
    """What one worker process keeps between tasks: its event loop and its client."""

    runner: asyncio.Runner
    client: OPayClient
    settings: WorkerSettings

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the process's loop; cancel it if the task is interrupted.

        Celery's soft time limit raises ``SoftTimeLimitExceeded`` wherever the process
        is, here inside the loop: the interrupted coroutine is cancelled (its requests
        too) before the exception goes on, so no half-done work is left on the loop.
        """
        loop = self.runner.get_loop()
        task = loop.create_task(coroutine)
        try:
            return loop.run_until_complete(task)
        except BaseException:
            if not task.done():  # (run again, a task done with SystemExit never returns)
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
            raise


_worker_pool_size = 1  # the pool size of this worker, set in the main process
_process: _Process | None = None  # set in each pool process
_process_error: str | None = None  # why the client could not be made, if it could not


def _quiet_httpx(**_: Any) -> None:
    """httpx2 logs every request at INFO: a line per payment is noise in a bulk worker."""
    logging.getLogger("httpx2").setLevel(logging.WARNING)


def _remember_pool_size(sender: Any, **_: Any) -> None:
    """In the worker's main process, before the pool forks: note how many processes."""
    global _worker_pool_size  # noqa: PLW0603 (per-process state is the point)
    concurrency = getattr(sender, "concurrency", None)
    _worker_pool_size = concurrency if isinstance(concurrency, int) and concurrency > 0 else 1


def _open_client(**_: Any) -> None:
    """In each new pool process: one event loop and one client, for every task it runs.

    An error (a missing ``OPAY_*`` variable, a bad rate) is logged and kept; each task
    then fails with it, instead of the pool restarting the process over and over.
    """
    global _process, _process_error  # noqa: PLW0603
    runner = asyncio.Runner()
    try:
        settings = WorkerSettings.from_env(os.environ, pool_size=_worker_pool_size)

        async def open_client() -> OPayClient:  # made on the loop it will live on
            return OPayClient.from_env(rate_limit=settings.rate_limit)

        client = runner.run(open_client())
    except (ValueError, OSError) as error:  # OPayValidationError is a ValueError
        runner.close()
        _process_error = str(error)  # OPay errors never hold the secret key
        logger.error("OPay client not created: %s", _process_error)  # noqa: TRY400
        return
    _process = _Process(runner, client, settings)
    rate = settings.rate_limit
    logger.info(
        "OPay client ready in process %d: rate_limit=%s (%s), concurrency=%d",
        os.getpid(),
        "none" if rate is None else f"{rate:g}/s",
        "no merchant rate"
        if rate is None
        else f"merchant {settings.merchant_rate:g}/s over {settings.processes} processes",
        settings.concurrency,
    )


def _close_client(**_: Any) -> None:
    """When the process stops: close the client's connections, then its loop."""
    global _process
    process, _process = _process, None
    if process is None:  # a prefork worker's main process holds no client
        return
    try:
        process.runner.run(process.client.aclose())
    finally:
        process.runner.close()
    logger.info("OPay client closed in process %d", os.getpid())


def _on(signal: Any, handler: Callable[..., None]) -> None:
    """Connect ``handler`` to a Celery signal (``Any``: Celery's signals are untyped)."""
    signal.connect(handler, weak=False)


_on(signals.after_setup_logger, _quiet_httpx)
_on(signals.worker_init, _remember_pool_size)
_on(signals.worker_process_init, _open_client)
_on(signals.worker_process_shutdown, _close_client)
_on(signals.worker_shutdown, _close_client)  # the solo pool sends this one, not the above
_on(signals.worker_process_init, tracing.start_in_worker_process)  # if OTEL_TRACES_EXPORTER
_on(signals.worker_process_shutdown, tracing.stop)  # (after the client is closed)
_on(signals.worker_shutdown, tracing.stop)
# --8<-- [end:process]


def records_id(task_id: str) -> str:
    """The id a chunk's records are stored under in the result backend.

    Not the task's own: Celery writes task states there (a chunk stopped on a lost
    broker connection is marked RETRY), while these records, once stored, are final.
    """
    return f"{task_id}.records"


def deliveries_key(task_id: str) -> str:
    """The result backend's key of a chunk's count of starts."""
    return f"opay-chunk-deliveries-{task_id}"


def count_delivery(task: Any) -> int | None:
    """This start of the running chunk: 1 the first time, 2 when it is delivered again...

    Kept in the result backend (``INCR``: Redis; a locked file: ``serverless``), shared
    by every worker and surviving their deaths. ``None`` when it cannot be counted (a
    backend without counters, or away): the chunk runs anyway, closing twice is safe.
    """
    key = deliveries_key(task.request.id)
    backend = task.backend
    try:
        count = int(backend.incr(key))
        backend.expire(key, int(app.conf.result_expires.total_seconds()))
    except NotImplementedError:
        return None
    except Exception:  # the backend is away (its retries are for results only)
        logger.warning("could not count the starts of chunk %s", task.request.id, exc_info=True)
        return None
    return count


def stop_key(backend: Any, run: str) -> Any:
    """The result backend's key of a run's stop mark."""
    return backend.get_key_for_task(f"opay-run-{run}.stop")


def stored_stop(backend: Any, run: str) -> StopMark | None:
    """The run's stop mark in ``backend``, if a chunk of it stopped on a fatal failure.

    Raises what the backend raises when it is away.
    """
    stored = backend.get(stop_key(backend, run))
    return None if stored is None else StopMark.parse(stored)


def read_stop(task: Any, run: str) -> StopMark | None:
    """The run's stop mark, read before a chunk sends anything.

    ``None`` when the backend is away too: the chunk runs, and stops on its own at the
    first fatal answer (``stop_on_fatal``).
    """
    try:
        return stored_stop(task.backend, run)
    except Exception:  # away: the chunk's own stop still holds
        logger.warning("could not read the stop mark of run %s", run, exc_info=True)
        return None


def mark_stop(task: Any, run: str, mark: StopMark) -> None:
    """Tell the run's other chunks, and its producer, that the run stopped."""
    backend = task.backend
    try:
        backend.set(stop_key(backend, run), mark.dumps())
    except Exception:  # the other chunks stop on their own first fatal answer
        logger.warning("could not store the stop mark of run %s", run, exc_info=True)


def _current() -> _Process:
    """This pool process's loop and client, or the error that kept it from making them."""
    if _process is None:
        raise RuntimeError(
            _process_error
            or "no OPay client in this process: run the worker with --pool prefork or solo"
        )
    return _process


def _given_up(
    items: list[Item], indexes: list[int], country: str | None, starts: int
) -> list[CloseRecord]:
    """Failed records for a chunk started too often: it never runs again, and says so."""
    logger.error("chunk at index %d given up: started %d times", indexes[0], starts - 1)
    return failed_records(
        items,
        indexes,
        country=country,
        error_type="WorkerLostError",
        error=f"this chunk was started {starts - 1} times and never finished (its worker "
        "process died or lost its broker each time): some of its payments may be closed, "
        "others not; close them again",
    )


class ChunkTask(Protocol):
    """``close_chunk`` registered with Celery, as the producer uses it (a ``celery.Task``)."""

    name: str

    def apply_async(self, args: tuple[Any, ...]) -> Any:
        """Send the task with these arguments; its ``AsyncResult``."""
        ...


# Lines short enough for docs/bulk.md, which shows them:
# fmt: off
# --8<-- [start:task]
def close_chunk(
    task: Any,  # the running task (bind=True)
    items: list[Item],
    indexes: list[int],  # each item's position in the whole input
    country: str | None = None,
    run: str | None = None,  # the producer's run: its stop mark
) -> dict[str, int]:
    """Close one chunk; store one record per item; return the counts."""
    process = _current()  # its loop and client, made at start-up
    stop = read_stop(task, run) if run else None
    starts = count_delivery(task)
    if stop is not None:  # a chunk of the run met a dead key
        records = stop.not_sent(items, indexes, country)
        logger.warning(
            "chunk at index %d not sent: the run stopped on %s",
            indexes[0], stop.reason,
        )
    elif starts is not None and starts > process.settings.max_deliveries:
        records = _given_up(items, indexes, country, starts)
    else:
        records, fatal = process.run(
            close_items(
                process.client,
                items,
                country=country,
                concurrency=process.settings.concurrency,
                stop_on_fatal=run is not None,
            )
        )
        for record in records:
            record["index"] = indexes[record["index"]]
        if fatal is not None and run:
            mark_stop(task, run, StopMark.of(fatal))
    # Under an id of its own (Celery may still mark the task's id
    # RETRY), with retries while the backend is away.
    task.backend.store_result(
        records_id(task.request.id), records, "SUCCESS"
    )
    closed = sum(record["ok"] for record in records)
    logger.info(
        "closed %d of a chunk of %d at index %d",
        closed, len(records), indexes[0],
    )
    return {"closed": closed, "not closed": len(records) - closed}


# Its return value is not stored, so a producer does not wait on it;
# its errors are (store_errors_even_if_ignored).
close_chunk_task: ChunkTask = app.task(
    name="opay.close_chunk",
    bind=True,
    ignore_result=True,
    store_errors_even_if_ignored=True,
)(close_chunk)
# --8<-- [end:task]
# fmt: on
