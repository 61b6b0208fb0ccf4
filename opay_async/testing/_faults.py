"""Faults the simulator can inject: scheduled one by one, or drawn at random rates."""

from __future__ import annotations

import enum
import random
from collections import deque
from typing import Any, Final

import attrs

from .._errors import OPayValidationError
from .._repr import SafeRepr
from .._validation import MAX_SECONDS, number, text

__all__ = [
    "BAD_GATEWAY_PAGE",
    "SERVICE_UNAVAILABLE",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultRates",
]

BAD_GATEWAY_PAGE: Final = (
    "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)
"""The body of a simulated proxy error: an HTML page, as load balancers send."""

#: The most faults one call may schedule.
MAX_SCHEDULED: Final = 10_000
#: The largest seed (either sign) of the random faults.
MAX_SEED: Final = 2**64

#: OPay's documented message for code 50003.
SERVICE_UNAVAILABLE: Final = "service not available, please try again."


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


def _code(_instance: object, _attribute: object, value: object) -> None:
    text("code", value)


def _status(_instance: object, _attribute: object, value: object) -> None:
    number("status", value, integer=True, at_least=400, at_most=599)


def _retry_after(value: object) -> str | None:
    """A ``Retry-After`` value as header text: a number of seconds (0 to 86400) is checked.

    Text is kept as it is (an HTTP date, or garbage to test a client with).
    """
    if value is None or isinstance(value, str):
        return value
    return str(number("retry_after", value, at_least=0, at_most=MAX_SECONDS))


def _string(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise OPayValidationError(attribute.name, f"must be a string, got {type(value).__name__}")


def _header(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A header value: printable ASCII (no line break can split the answer's head)."""
    if value is None and attribute.name == "retry_after":
        return
    if not (isinstance(value, str) and value.isascii() and value.isprintable()):
        raise OPayValidationError(attribute.name, f"must be printable ASCII, got {value!r}")


@attrs.frozen(kw_only=True, repr=False)
class Fault(SafeRepr):
    """One injected failure.

    Attributes:
        kind: What goes wrong.
        code: The business code of an ``API_ERROR``.
        message: The message of an ``API_ERROR``.
        status: The HTTP status of an ``HTTP_ERROR`` (400 to 599).
        body: The body of an ``HTTP_ERROR``.
        content_type: The content type of an ``HTTP_ERROR``.
        retry_after: A ``Retry-After`` header value to send, if any.
        after_close: For ``DROP`` and ``TIMEOUT``: the close takes effect first and only
            the answer is lost ("closed, but the client never heard").

    Examples:
        >>> Fault(kind=FaultKind.HTTP_ERROR, status=503).status
        503
    """

    kind: FaultKind = attrs.field(validator=attrs.validators.instance_of(FaultKind))
    code: str = attrs.field(default="50003", validator=_code)
    message: str = attrs.field(default=SERVICE_UNAVAILABLE, validator=_string)
    status: int = attrs.field(default=502, validator=_status)
    body: str = attrs.field(default=BAD_GATEWAY_PAGE, validator=_string)
    content_type: str = attrs.field(default="text/html", validator=_header)
    retry_after: str | None = attrs.field(default=None, converter=_retry_after, validator=_header)
    after_close: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))


def _rate(_instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    number(attribute.name, value, at_least=0, at_most=1)


@attrs.frozen(kw_only=True, repr=False)
class FaultRates(SafeRepr):
    """The probability of each random fault for one request; they add up to at most 1.

    Attributes:
        service_unavailable: ``50003`` "service not available" answers.
        http_502: HTTP 502 answers with an HTML page.
        malformed: HTTP 200 answers with a truncated body.
        drop: Dropped connections.
        timeout: Requests never answered.

    Examples:
        >>> FaultRates.parse("0.05")
        FaultRates(service_unavailable=0.05, http_502=0.0, malformed=0.0, drop=0.0, timeout=0.0)
        >>> FaultRates.parse("http_502=0.1,drop=0.02").total
        0.12
    """

    service_unavailable: float = attrs.field(default=0.0, validator=_rate)
    http_502: float = attrs.field(default=0.0, validator=_rate)
    malformed: float = attrs.field(default=0.0, validator=_rate)
    drop: float = attrs.field(default=0.0, validator=_rate)
    timeout: float = attrs.field(default=0.0, validator=_rate)

    def __attrs_post_init__(self) -> None:
        if self.total > 1.0:
            raise OPayValidationError("rates", f"must add up to at most 1, got {self.total:g}")

    @property
    def total(self) -> float:
        """The probability that a request draws some fault."""
        return round(sum(self.as_dict().values()), 12)

    def as_dict(self) -> dict[str, float]:
        """The rates by name (the names ``set_fault_rates`` and the admin API take)."""
        return {
            "service_unavailable": self.service_unavailable,
            "http_502": self.http_502,
            "malformed": self.malformed,
            "drop": self.drop,
            "timeout": self.timeout,
        }

    @classmethod
    def parse(cls, spec: str) -> FaultRates:
        """Rates from a command-line value: ``"0.05"`` or ``"name=rate,name=rate"``.

        A bare number is the rate of ``50003`` answers; otherwise each comma-separated
        ``name=rate`` sets the rate of one kind (the attribute names above).

        Raises:
            OPayValidationError: An unknown name, a rate that is not a number in
                [0, 1], or rates adding up to more than 1.
        """
        spec = spec.strip()
        if "=" not in spec:
            return cls(service_unavailable=_parsed_rate("fault rate", spec))
        rates: dict[str, float] = {}
        for part in spec.split(","):
            name, _, value = part.partition("=")
            name = name.strip().lower()
            if name not in _RATE_NAMES:
                raise OPayValidationError(
                    "fault rate", f"unknown kind {name!r}; use one of {', '.join(_RATE_NAMES)}"
                )
            rates[name] = _parsed_rate(name, value.strip())
        return cls(**rates)

    def faults(self) -> list[tuple[float, Fault]]:
        """Each non-zero rate with the fault it draws."""
        return [(rate, _RATE_FAULTS[name]) for name, rate in self.as_dict().items() if rate > 0]


def _parsed_rate(field: str, value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise OPayValidationError(field, f"must be a number in [0, 1], got {value!r}") from None
    return number(field, rate, at_least=0, at_most=1)


_RATE_FAULTS: Final = {
    "service_unavailable": Fault(kind=FaultKind.API_ERROR),
    "http_502": Fault(kind=FaultKind.HTTP_ERROR),
    "malformed": Fault(kind=FaultKind.MALFORMED),
    "drop": Fault(kind=FaultKind.DROP),
    "timeout": Fault(kind=FaultKind.TIMEOUT),
}
_RATE_NAMES: Final = tuple(_RATE_FAULTS)


class FaultPlan:
    """Scheduled faults first (in the order they were asked for), then random ones."""

    def __init__(self) -> None:
        self._scheduled: deque[Fault] = deque()
        self._rates = FaultRates()
        self._draws: list[tuple[float, Fault]] = []
        self._random = random.Random()  # noqa: S311 (simulation, not cryptography)

    def schedule(self, fault: Fault, count: int) -> None:
        """Make the next ``count`` requests (after those already scheduled) fail so."""
        count = number("n", count, integer=True, at_least=0, at_most=MAX_SCHEDULED)
        self._scheduled.extend([fault] * count)

    def set_rates(self, rates: FaultRates, seed: int | None = None) -> None:
        """Draw a fault for each unscheduled request with these probabilities."""
        if seed is not None:
            seed = number("seed", seed, integer=True, at_least=-MAX_SEED, at_most=MAX_SEED)
        self._rates = rates
        self._draws = rates.faults()
        self._random.seed(seed)

    @property
    def rates(self) -> FaultRates:
        """The rates faults are drawn at."""
        return self._rates

    def clear(self) -> None:
        """No more faults: neither scheduled ones nor random ones."""
        self._scheduled.clear()
        self.set_rates(FaultRates())

    def clear_scheduled(self) -> None:
        """Forget the scheduled faults; the rates stay."""
        self._scheduled.clear()

    @property
    def pending(self) -> int:
        """Scheduled faults not yet used."""
        return len(self._scheduled)

    @property
    def scheduled(self) -> list[Fault]:
        """The scheduled faults not yet used, next first."""
        return list(self._scheduled)

    def next(self) -> Fault | None:
        """The fault for the request now being handled, if any."""
        if self._scheduled:
            return self._scheduled.popleft()
        if self._draws:
            draw = self._random.random()
            for rate, fault in self._draws:
                if draw < rate:
                    return fault
                draw -= rate
        return None
