"""When to retry a close and how long to wait: the policy, a pure backoff, tenacity's decisions.

The decisions are tenacity's: a retry predicate (the error says whether it is
``retryable``), a wait (`backoff`), a stop (attempts, the call's deadline, the
client's retry budget) and a log line before each sleep. `Retries` holds one
call's tenacity state; the send loop makes it at the first failure and asks it, after
each failed attempt, whether and how long to wait.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Final

import attrs
from tenacity import AsyncRetrying, DoSleep, RetryCallState, retry_if_exception
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from ._budget import TokenBucket
from ._clock import Clock
from ._errors import OPayError
from ._repr import SafeRepr
from ._validation import MAX_SECONDS, number_field

__all__ = ["Retries", "RetryPolicy", "backoff"]

logger: Final = logging.getLogger("opay_async")

#: The most tries a policy may name (each is a request to OPay).
MAX_ATTEMPTS: Final = 1_000


@attrs.frozen(kw_only=True, repr=False)
class RetryPolicy(SafeRepr):
    """When and how long to retry a close.

    Only failures that are safe and useful to retry are retried: OPay's 50003
    ("service not available, please try again"), connection errors, timeouts, and HTTP
    429/500/502/503/504. Closing is idempotent (closing a closed payment answers
    ``CLOSE`` again), so a retry after a lost answer is safe.

    Waits use full-jitter exponential backoff (`backoff`): before retry *n* the
    client sleeps a random time in ``[0, min(wait_max, wait_initial * 2**(n-1))]``. A
    ``Retry-After`` header is honoured, capped at ``wait_max``.

    Attributes:
        attempts: Tries in all, the first included; ``1`` means no retry (at most 1000).
        timeout: Seconds all attempts and waits of one call may take together (at
            most a day, 86400).
        wait_initial: Upper bound of the first wait, in seconds (at most 86400).
        wait_max: Cap of any one wait, in seconds (at most 86400).

    Examples:
        >>> RetryPolicy(attempts=3, timeout=20.0)
        RetryPolicy(attempts=3, timeout=20.0, wait_initial=0.5, wait_max=8.0)
    """

    attempts: int = attrs.field(
        default=4, validator=number_field(integer=True, at_least=1, at_most=MAX_ATTEMPTS)
    )
    timeout: float = attrs.field(default=60.0, validator=number_field(above=0, at_most=MAX_SECONDS))
    wait_initial: float = attrs.field(
        default=0.5, validator=number_field(at_least=0, at_most=MAX_SECONDS)
    )
    wait_max: float = attrs.field(
        default=8.0, validator=number_field(at_least=0, at_most=MAX_SECONDS)
    )

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(attempts=1)


def backoff(
    retry: int,
    *,
    initial: float,
    maximum: float,
    retry_after: float | None = None,
    draw: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first retry).

    Full jitter: a random time in ``[0, min(maximum, initial * 2**(retry-1))]``, so many
    clients failing together do not retry together; a server's ``retry_after`` is
    honoured instead, capped at ``maximum``.

    Examples:
        >>> backoff(3, initial=0.5, maximum=8.0, draw=lambda low, high: high)
        2.0
        >>> backoff(1, initial=0.5, maximum=8.0, retry_after=30.0)
        8.0
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), maximum)
    return draw(0.0, min(maximum, initial * 2.0 ** min(retry - 1, 64)))


def _retryable(error: BaseException) -> bool:
    return isinstance(error, OPayError) and error.retryable


class _Wait(wait_base):
    """`backoff` for tenacity.

    A wait that would end past the call's deadline is never slept: `_Stop`, asked
    next, ends the call instead.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        return backoff(
            retry_state.attempt_number,
            initial=self._policy.wait_initial,
            maximum=self._policy.wait_max,
            retry_after=error.retry_after if isinstance(error, OPayError) else None,
        )


class _Stop(stop_base):
    """Stop at the attempt limit, at the deadline, or when the retry budget is empty."""

    def __init__(
        self,
        attempts: int,
        deadline: float,
        clock: Clock,
        bucket: TokenBucket | None,
        refused: Callable[[], object] | None,
    ) -> None:
        self._attempts = attempts
        self._deadline = deadline
        self._clock = clock
        self._bucket = bucket
        self._refused = refused

    def __call__(self, retry_state: RetryCallState) -> bool:
        if retry_state.attempt_number >= self._attempts:
            return True
        if self._clock.now() + retry_state.upcoming_sleep >= self._deadline:
            return True
        # Spend last: only a retry that will really happen costs a token.
        if self._bucket is None or self._bucket.try_spend():
            return False
        if self._refused is not None:
            self._refused()
        return True


def _log_retry(retry_state: RetryCallState) -> None:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    logger.warning(
        "retrying close after attempt %d failed: %s; waiting %.2fs",
        retry_state.attempt_number,
        error,
        retry_state.upcoming_sleep,
        extra={  # the same fields as attributes, for JSON formatters and OTel's handler
            "opay.reference": getattr(error, "reference", None),
            "opay.order_no": getattr(error, "order_no", None),
            "opay.attempt": retry_state.attempt_number,
            "opay.outcome": type(error).__name__,
            "opay.code": getattr(error, "code", None),
            "opay.retry.wait": retry_state.upcoming_sleep,
        },
    )


class Retries:
    """One call's retry state: tenacity, asked after each failed attempt what comes next.

    tenacity's own loop (``AsyncRetrying.__call__``) sets each outcome on a
    ``RetryCallState`` and asks ``iter()`` for the next action; this does the same,
    one failure at a time, so that the send loop can make the first attempt before
    any of tenacity's objects exist.
    """

    __slots__ = ("_retrying", "_state")

    def __init__(
        self,
        policy: RetryPolicy,
        clock: Clock,
        deadline: float,
        bucket: TokenBucket | None,
        *,
        refused: Callable[[], object] | None = None,
    ) -> None:
        self._retrying = AsyncRetrying(
            stop=_Stop(policy.attempts, deadline, clock, bucket, refused),
            wait=_Wait(policy),
            retry=retry_if_exception(_retryable),
            before_sleep=_log_retry,
            reraise=True,
        )
        self._retrying.begin()  # as tenacity's own loop does: its statistics start here
        self._state = RetryCallState(self._retrying, fn=None, args=(), kwargs={})

    async def after(self, error: OPayError) -> float | None:
        """Seconds to wait before the next attempt, or ``None``: ``error`` is final."""
        state = self._state
        state.set_exception((type(error), error, None))
        try:
            action = await self._retrying.iter(state)
        except OPayError:
            return None  # not retryable, or a stop said so (tenacity re-raises the error)
        assert isinstance(action, DoSleep)
        state.prepare_for_next_attempt()
        return float(action)
