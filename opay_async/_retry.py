"""``RetryPolicy`` and the tenacity machinery that applies it to one call."""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from ._budget import TokenBucket
from ._clock import Clock
from ._errors import OPayError
from ._repr import SafeRepr
from ._validation import number_field

__all__ = ["RetryPolicy", "new_retrying"]


@attrs.frozen(kw_only=True, repr=False)
class RetryPolicy(SafeRepr):
    """When and how long to retry a close.

    Only failures that are safe and useful to retry are retried: OPay's 50003
    ("service not available, please try again"), connection errors, timeouts, and HTTP
    429/500/502/503/504. Closing is idempotent (closing a closed payment answers
    ``CLOSE`` again), so a retry after a lost answer is safe.

    Waits use full-jitter exponential backoff: before retry *n* the client sleeps a
    random time in ``[0, min(wait_max, wait_initial * 2**(n-1))]``. A ``Retry-After``
    header is honoured, capped at ``wait_max``.

    Attributes:
        attempts: Tries in all, the first included; ``1`` means no retry.
        timeout: Seconds all attempts and waits of one call may take together.
        wait_initial: Upper bound of the first wait, in seconds.
        wait_max: Cap of any one wait, in seconds.

    Example:
        >>> RetryPolicy(attempts=3, timeout=20.0)
        RetryPolicy(attempts=3, timeout=20.0, wait_initial=0.5, wait_max=8.0)
    """

    attempts: int = attrs.field(default=4, validator=number_field(integer=True, at_least=1))
    timeout: float = attrs.field(default=60.0, validator=number_field(above=0))
    wait_initial: float = attrs.field(default=0.5, validator=number_field(at_least=0))
    wait_max: float = attrs.field(default=8.0, validator=number_field(at_least=0))

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(attempts=1)


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, OPayError) and error.retryable


class _Backoff(wait_base):
    """Full-jitter exponential backoff, Retry-After aware, never past the deadline."""

    def __init__(self, policy: RetryPolicy, deadline: float, clock: Clock) -> None:
        self._policy = policy
        self._deadline = deadline
        self._clock = clock

    def __call__(self, retry_state: RetryCallState) -> float:
        policy = self._policy
        error = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = error.retry_after if isinstance(error, OPayError) else None
        if retry_after is not None:
            wait = min(max(retry_after, 0.0), policy.wait_max)
        else:
            ceiling = policy.wait_initial * 2 ** (retry_state.attempt_number - 1)
            wait = random.uniform(0, min(policy.wait_max, ceiling))  # noqa: S311 (jitter)
        return max(0.0, min(wait, self._deadline - self._clock.now()))


class _Stop(stop_base):
    """Stop at the attempt limit, at the deadline, or when the retry budget is empty."""

    def __init__(
        self, attempts: int, deadline: float, clock: Clock, bucket: TokenBucket | None
    ) -> None:
        self._attempts = attempts
        self._deadline = deadline
        self._clock = clock
        self._bucket = bucket

    def __call__(self, retry_state: RetryCallState) -> bool:
        if retry_state.attempt_number >= self._attempts:
            return True
        if self._clock.now() + (retry_state.upcoming_sleep or 0.0) >= self._deadline:
            return True
        # Spend last: only a retry that will really happen costs a token.
        return self._bucket is not None and not self._bucket.try_spend()


def new_retrying(
    policy: RetryPolicy,
    *,
    clock: Clock,
    deadline: float,
    bucket: TokenBucket | None,
    before_sleep: Callable[[RetryCallState], None],
) -> AsyncRetrying:
    """A fresh tenacity ``AsyncRetrying`` for one call (never shared between calls)."""
    return AsyncRetrying(
        sleep=clock.sleep,
        stop=_Stop(policy.attempts, deadline, clock, bucket),
        wait=_Backoff(policy, deadline, clock),
        retry=retry_if_exception(_is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
