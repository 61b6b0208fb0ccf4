"""Faults the simulator can inject: scheduled one by one, or drawn at random rates."""

from __future__ import annotations

import enum
import random
from collections import deque

import attrs

from .._errors import OPayValidationError

__all__ = ["BAD_GATEWAY_PAGE", "SERVICE_UNAVAILABLE", "Fault", "FaultKind", "FaultPlan"]

#: The body of a simulated proxy error: an HTML page, as load balancers send.
BAD_GATEWAY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)

#: OPay's documented message for code 50003.
SERVICE_UNAVAILABLE = "service not available, please try again."


class FaultKind(enum.Enum):
    """What goes wrong with one request."""

    #: A JSON answer with a business error code (50003 unless told otherwise).
    API_ERROR = "api_error"
    #: A non-2xx HTTP answer with a non-JSON body (a proxy's HTML error page).
    HTTP_ERROR = "http_error"
    #: HTTP 200 whose body is not JSON (a truncated answer).
    MALFORMED = "malformed"
    #: The connection breaks before the answer arrives.
    DROP = "drop"
    #: No answer until the client gives up.
    TIMEOUT = "timeout"


@attrs.frozen(kw_only=True)
class Fault:
    """One injected failure.

    Attributes:
        kind: What goes wrong.
        code: The business code of an ``API_ERROR``.
        message: The message of an ``API_ERROR``.
        status: The HTTP status of an ``HTTP_ERROR``.
        body: The body of an ``HTTP_ERROR``.
        content_type: The content type of an ``HTTP_ERROR``.
        retry_after: A ``Retry-After`` header value to send, if any.
        after_close: For ``DROP`` and ``TIMEOUT``: the close takes effect first and only
            the answer is lost ("closed, but the client never heard").
    """

    kind: FaultKind
    code: str = "50003"
    message: str = SERVICE_UNAVAILABLE
    status: int = 502
    body: str = BAD_GATEWAY_PAGE
    content_type: str = "text/html"
    retry_after: str | None = None
    after_close: bool = False


def _rate(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise OPayValidationError(name, f"must be a probability in [0, 1], got {value!r}")
    return value


class FaultPlan:
    """Scheduled faults first (in the order they were asked for), then random ones."""

    def __init__(self) -> None:
        self._scheduled: deque[Fault] = deque()
        self._rates: list[tuple[float, Fault]] = []
        self._random = random.Random()  # noqa: S311 (simulation, not cryptography)

    def schedule(self, fault: Fault, count: int) -> None:
        """Make the next ``count`` requests (after those already scheduled) fail so."""
        if count < 0:
            raise OPayValidationError("n", f"must be >= 0, got {count!r}")
        self._scheduled.extend([fault] * count)

    def set_rates(self, rates: list[tuple[float, Fault]], seed: int | None) -> None:
        """Draw a fault for each unscheduled request with these probabilities."""
        total = sum(_rate(fault.kind.value, rate) for rate, fault in rates)
        if total > 1.0:
            raise OPayValidationError("rates", f"must add up to at most 1, got {total!r}")
        self._rates = [(rate, fault) for rate, fault in rates if rate > 0]
        self._random.seed(seed)

    def clear(self) -> None:
        """No more faults."""
        self._scheduled.clear()
        self._rates = []

    @property
    def pending(self) -> int:
        """Scheduled faults not yet used."""
        return len(self._scheduled)

    def next(self) -> Fault | None:
        """The fault for the request now being handled, if any."""
        if self._scheduled:
            return self._scheduled.popleft()
        if self._rates:
            draw = self._random.random()
            for rate, fault in self._rates:
                if draw < rate:
                    return fault
                draw -= rate
        return None
