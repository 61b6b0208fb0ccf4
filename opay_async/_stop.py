"""A bulk run's stop: after an answer no later request can change, nothing new is sent.

An answer whose error is ``fatal`` (``02000``: the key or merchant id is refused,
``02002``, ``02007``, HTTP 401) is about the merchant, not the payment: every later request
of the client would get it too, and OPay would see a flood of bad signatures. The send
loop stops the run at the first one (`RunStop.stop`) and looks before each attempt
(`RunStop.stopped_by`): an item whose turn comes after the stop is not sent, and its
outcome holds a `RunStoppedError`. Requests already in flight finish; retries waiting
for their backoff and workers waiting for a rate limiter stop waiting.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from ._clock import Clock
from ._errors import OPayAPIError, OPayError, OPayHTTPError
from ._request import CloseRequest

__all__ = ["RunStop", "RunStoppedError", "describe"]

logger: Final = logging.getLogger("opay_async")


def describe(error: OPayError) -> str:
    """The error's class and code, short: ``AuthenticationError [02000]``.

    Examples:
        >>> from opay_async import OPayHTTPError
        >>> describe(OPayHTTPError(401, "unauthorized"))
        'OPayHTTPError (HTTP 401)'
    """
    name = type(error).__name__
    if isinstance(error, OPayAPIError):
        return f"{name} [{error.code}]"
    if isinstance(error, OPayHTTPError):
        return f"{name} (HTTP {error.status_code})"
    return name


class RunStoppedError(OPayError):
    """An item a bulk run did not send, or did not send again: the run had stopped.

    ``close_many`` and ``iter_close_many`` stop sending at the first outcome whose error
    is ``fatal`` (a key, merchant id or merchant OPay refuses): every later request would
    be refused the same way. Each item whose request had not been sent by then gets an
    outcome with this error: its ``attempts`` are the requests actually sent for it (0
    unless it was waiting to be retried). Sending it again once the problem is fixed may
    succeed, so it is ``retryable`` (and never ``fatal``).

    Attributes:
        stopped_by: The fatal error the run stopped on (also this error's ``__cause__``,
            after pickling too).

    Examples:
        >>> import pickle
        >>> from opay_async import AuthenticationError
        >>> refused = AuthenticationError("02000", "authentication failed.")
        >>> error = RunStoppedError(refused, reference="SHOP-9")
        >>> print(error)  # doctest: +NORMALIZE_WHITESPACE
        not sent: the run stopped on AuthenticationError [02000], which no later request
        could change (reference='SHOP-9')
        >>> again = pickle.loads(pickle.dumps(error))
        >>> again.stopped_by.code, again.retryable, again.__cause__ is again.stopped_by
        ('02000', True, True)
    """

    def __init__(
        self,
        stopped_by: OPayError,
        *,
        sent: bool = False,
        reference: str | None = None,
        order_no: str | None = None,
    ) -> None:
        super().__init__(
            f"{'not sent again' if sent else 'not sent'}: the run stopped on "
            f"{describe(stopped_by)}, which no later request could change",
            reference=reference,
            order_no=order_no,
            retryable=True,
        )
        self.stopped_by = stopped_by
        self.__cause__ = stopped_by

    def __setstate__(self, state: dict[str, Any] | None, /) -> None:
        super().__setstate__(state)
        self.__cause__ = getattr(self, "stopped_by", None)


class RunStop:
    """The stop of one bulk run, shared by its workers through the send loop.

    Only touched from the event loop's thread, so no lock is needed. A wait of the run
    (a retry's backoff, a rate limit's turn) ends at the stop: the stop cancels the task
    waiting, and the wait takes that cancellation back (``Task.uncancel``, as
    ``asyncio.timeout`` does), so a cancellation from elsewhere still propagates.

    Attributes:
        stopped_by: The fatal error the run stopped on; ``None`` while it runs.
    """

    __slots__ = ("_waiting", "_woken", "stopped_by")

    def __init__(self) -> None:
        self.stopped_by: OPayError | None = None
        self._waiting: set[asyncio.Task[Any]] = set()
        self._woken: set[asyncio.Task[Any]] = set()

    def stop(self, error: OPayError) -> None:
        """Stop the run on ``error`` (the first one counts); end the waits."""
        if self.stopped_by is not None:
            return
        self.stopped_by = error
        logger.warning(
            "stopping the run on %r, which no later request could change: nothing more is "
            "sent (the items not sent get RunStoppedError)",
            error,
            extra={
                "opay.reference": error.reference,
                "opay.order_no": error.order_no,
                "opay.outcome": type(error).__name__,
                "opay.code": getattr(error, "code", None),
            },
        )
        for task in self._waiting:
            task.cancel()
        self._woken = self._waiting
        self._waiting = set()

    def not_sent(self, request: CloseRequest, *, sent: int) -> RunStoppedError:
        """The error of ``request``, not sent (again) since the run stopped.

        Args:
            request: The item's request.
            sent: Requests already sent for it.
        """
        assert self.stopped_by is not None
        return RunStoppedError(self.stopped_by, sent=sent > 0, **request.identity())

    async def sleep(self, clock: Clock, seconds: float) -> None:
        """Sleep ``seconds`` on ``clock``, or less: until the run stops."""
        if self.stopped_by is not None:
            return
        task = asyncio.current_task()
        assert task is not None  # the send loop runs in a task of an asyncio loop
        self._waiting.add(task)
        try:
            await clock.sleep(seconds)
        except asyncio.CancelledError:
            if task not in self._woken:
                raise
            self._woken.discard(task)
            if task.uncancel() > 0:
                raise  # cancelled from elsewhere too: that one stands
        finally:
            self._waiting.discard(task)
