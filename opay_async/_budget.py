"""The client-wide retry budget: a token bucket that stops retry storms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ._repr import SafeRepr
from ._validation import MAX_COUNT, number_field

__all__ = ["RetryBudget", "TokenBucket"]


def _count(*, at_least: int) -> Callable[[Any, Any, Any], None]:
    """A whole number of tokens, from ``at_least`` to a billion."""
    return number_field(integer=True, at_least=at_least, at_most=MAX_COUNT)


@attrs.frozen(kw_only=True, repr=False)
class RetryBudget(SafeRepr):
    """How many retries a client may spend, shared by all its calls.

    The scheme of the AWS SDKs' "standard" retry mode: the bucket starts full with
    ``capacity`` tokens; each retry spends ``retry_cost``; each success puts back
    ``success_refund``. An empty bucket means errors are returned at once, without
    retrying, so a full OPay outage costs about one request per order, not
    ``attempts`` requests per order. With the defaults, at most ``500 / 5 = 100``
    retries are spent before the bucket is empty, and 5 successes earn one more.
    Each number is a whole number of tokens up to a billion.

    Examples:
        >>> RetryBudget(capacity=100, retry_cost=5).max_retries_when_failing
        20
    """

    capacity: int = attrs.field(default=500, validator=_count(at_least=0))
    retry_cost: int = attrs.field(default=5, validator=_count(at_least=1))
    success_refund: int = attrs.field(default=1, validator=_count(at_least=0))

    @property
    def max_retries_when_failing(self) -> int:
        """Retries a full bucket pays for when nothing succeeds."""
        return self.capacity // self.retry_cost


class TokenBucket:
    """The mutable state of one client's [`RetryBudget`][opay_async.RetryBudget].

    Only touched from the event loop's thread, so no lock is needed.
    """

    __slots__ = ("budget", "tokens")

    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget
        self.tokens = budget.capacity

    def try_spend(self) -> bool:
        """Take the cost of one retry; ``False`` (and take nothing) when too few remain."""
        cost = self.budget.retry_cost
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def refund(self) -> None:
        """Put back what a success earns, up to the capacity."""
        self.tokens = min(self.budget.capacity, self.tokens + self.budget.success_refund)
