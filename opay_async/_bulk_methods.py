"""``OPayClient``'s bulk methods: many closes, bounded, each with its outcome.

A base class of `OPayClient` (its own concept, and its own screenful of docstrings):
it needs only the client's open `Sender`, which the client gives it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from ._bulk import CloseInput, ProgressCallback, close_many, iter_close_many
from ._outcome import CloseOutcome
from ._sending import Sender

__all__ = ["BulkMethods"]


class BulkMethods:
    """The bulk methods of [`OPayClient`][opay_async.OPayClient]."""

    __slots__ = ()

    def _sender_if_open(self) -> Sender:
        """The client's sender (``OPayClient`` gives it, raising when it is closed)."""
        raise NotImplementedError

    async def close_many(
        self,
        requests: CloseInput,
        *,
        country: str | None = None,
        concurrency: int = 10,
        rate_limit: float | None = None,
        on_progress: ProgressCallback | None = None,
        stop_on_fatal: bool = True,
    ) -> list[CloseOutcome]:
        """Close many payments; return one outcome per input item, in input order.

        Failures never abort the run: each becomes an outcome with an ``error`` (an item
        that fails validation too, unsent). Exceptions that are not ``OPayError`` (bugs,
        in this SDK or in ``on_progress``) stop the run and propagate.

        Args:
            requests: An iterable or async iterable of [`CloseRequest`][opay_async.CloseRequest],
                plain reference strings (then ``country`` is required) or row mappings.
            country: The country of plain reference strings and rows without one.
            concurrency: Requests in flight at most (and at once, when there is work).
            rate_limit: Request attempts started per second at most, retries included.
            on_progress: Called with each outcome as it completes (e.g. a progress bar).
            stop_on_fatal: Send nothing new after a ``fatal`` error (02000, 02002, 02007,
                HTTP 401), each item not sent then getting a ``RunStoppedError``.

        Returns:
            The outcomes, `outcomes[i]` for `requests[i]`. For inputs too large to keep
            in memory, use [`iter_close_many`][opay_async.OPayClient.iter_close_many].

        Raises:
            OPayValidationError: A bad argument of the whole call.
            OPayError: The client is closed.

        Examples:
            ```python
            outcomes = await opay.close_many(stale_references, country="EG", concurrency=20)
            failed = [o for o in outcomes if not o.ok]
            ```
        """
        sender = self._sender_if_open()
        return await close_many(
            sender.send,
            requests,
            country=country,
            concurrency=concurrency,
            rate_limit=rate_limit,
            on_progress=on_progress,
            stop_on_fatal=stop_on_fatal,
            telemetry=sender.telemetry,
        )

    def iter_close_many(
        self,
        requests: CloseInput,
        *,
        country: str | None = None,
        concurrency: int = 10,
        rate_limit: float | None = None,
        stop_on_fatal: bool = True,
    ) -> AsyncGenerator[CloseOutcome, None]:
        """Close many payments; yield each outcome as it completes (completion order).

        The input is pulled lazily by ``concurrency`` workers: memory stays proportional
        to ``concurrency`` however long the input. ``outcome.index`` is each outcome's
        position in the input. Leaving the loop early (or cancelling the task) cancels
        the requests in flight and stops reading the input (close the generator with
        ``contextlib.aclosing``); a stopped run reads it all, sending nothing.

        Args:
            requests: As for [`close_many`][opay_async.OPayClient.close_many].
            country: As for `close_many`.
            concurrency: As for `close_many`.
            rate_limit: As for `close_many`.
            stop_on_fatal: As for `close_many`.

        Raises:
            OPayError: The client is closed (raised by this call, before any work).

        Examples:
            ```python
            async with contextlib.aclosing(opay.iter_close_many(rows, country="NG")) as outcomes:
                async for outcome in outcomes:
                    await db.mark(outcome.request, outcome.ok)
            ```
        """
        sender = self._sender_if_open()
        return iter_close_many(
            sender.send,
            requests,
            country=country,
            concurrency=concurrency,
            rate_limit=rate_limit,
            stop_on_fatal=stop_on_fatal,
            telemetry=sender.telemetry,
        )
