"""The client's settings: their checks, the sender they make, and what the environment gives.

``OPayClient`` checks each argument here before anything is built or sent
(`make_sender`), and ``OPayClient.from_env`` takes its options from
`environment_options`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypedDict, TypeVar

from ._budget import RetryBudget, TokenBucket
from ._environment import Environment, check_environment
from ._errors import OPayValidationError
from ._http import Backend, make_exchange
from ._rate import RateLimiter, check_rate
from ._retry import RetryPolicy
from ._secret import SecretKey
from ._sending import HEADERS, Sender
from ._telemetry import telemetry_for
from ._validation import MAX_CONNECTIONS, MAX_SECONDS, number

if TYPE_CHECKING:
    import httpx2
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_MERCHANT_ID_DIGITS",
    "ClientOptions",
    "MerchantIdInput",
    "check_instance",
    "check_merchant_id",
    "check_timeout",
    "environment_options",
    "make_sender",
]

_T = TypeVar("_T")

#: Seconds one attempt (connect, send, answer) may take in all, unless ``timeout=`` says
#: otherwise; through a caller's ``http_client``, that client's own timeouts apply instead.
DEFAULT_TIMEOUT: Final = 30.0
#: The most digits a merchant id may have. OPay's are 15 (``256612345678901`` in its
#: documentation); any run of ASCII digits up to this length is taken, nothing else.
MAX_MERCHANT_ID_DIGITS: Final = 32
#: The prefixes of OPay's keys (secret, public): never the start of a merchant id.
_KEY_PREFIXES: Final = ("OPAYPRV", "OPAYPUB")


class ClientOptions(TypedDict, total=False):
    """The keyword arguments of [`OPayClient`][opay_async.OPayClient], each optional.

    [`from_env`][opay_async.OPayClient.from_env] takes them as overrides.
    """

    merchant_id: str
    secret_key: str | SecretKey
    environment: Environment
    base_url: str | None
    timeout: float | None
    retry: RetryPolicy | None
    retry_budget: RetryBudget | None
    http_client: httpx2.AsyncClient | None
    transport: httpx2.AsyncBaseTransport | None
    backend: Backend
    max_connections: int
    trust_env: bool
    rate_limit: float | None
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value  # what a CRLF .env file leaves


def looks_like_key(value: object) -> bool:
    """Whether ``value`` starts as OPay's keys do (``OPAYPRV``, ``OPAYPUB``, any case)."""
    text = _stripped(value)
    return isinstance(text, str) and text.upper().startswith(_KEY_PREFIXES)


def is_merchant_id(value: object) -> bool:
    """Whether ``value`` (stripped) has a merchant id's shape: 1 to 32 ASCII digits."""
    text = _stripped(value)
    return (
        isinstance(text, str)
        and 0 < len(text) <= MAX_MERCHANT_ID_DIGITS
        and text.isascii()
        and text.isdigit()
    )


def _problem(value: object) -> str | None:
    """What is wrong with ``value`` as a merchant id, never quoting it; ``None`` if nothing."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if looks_like_key(value):
        return (
            "this looks like an OPay key (OPAYPRV... or OPAYPUB...), not a merchant id; "
            "the merchant id is the digits OPay gave the account, e.g. 256612345678901 "
            "(the value is not shown)"
        )
    if not is_merchant_id(value):
        return (
            f"must be ASCII digits only, at most {MAX_MERCHANT_ID_DIGITS} (OPay's merchant "
            "ids are 15 digits, e.g. 256612345678901); the value is not shown, as it may "
            "be a secret in the wrong place"
        )
    return None


class MerchantIdInput:
    """A merchant id as given, not yet checked: a repr shows it only if it has the shape.

    ``OPayClient`` holds its ``merchant_id`` argument in one of these before checking
    it, so a traceback rendered with its frames' local variables never shows a secret
    key passed as the merchant id (the swapped ``.env`` variables).
    """

    __slots__ = ("_value",)

    def __init__(self, value: object) -> None:
        self._value = value

    def check(self) -> str:
        """The merchant id, stripped; raise without quoting it if it is not one.

        Raises:
            OPayValidationError: Not a string, blank, a key (``OPAYPRV...``,
                ``OPAYPUB...``), or not 1 to 32 ASCII digits.
        """
        problem = _problem(self._value)
        if problem is not None:
            raise OPayValidationError("merchant_id", problem)
        assert isinstance(self._value, str)
        return self._value.strip()

    def __repr__(self) -> str:
        shown = repr(_stripped(self._value)) if is_merchant_id(self._value) else "'***'"
        return f"MerchantIdInput({shown})"


def check_merchant_id(value: object) -> str:
    """Return ``value`` stripped, if it is a merchant id (1 to 32 ASCII digits, not a key).

    Examples:
        >>> check_merchant_id(" 256612345678901 ")
        '256612345678901'
        >>> check_merchant_id("OPAYPRV_not_an_id")
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: merchant_id: this looks like an OPay key \
(OPAYPRV... or OPAYPUB...), not a merchant id; the merchant id is the digits OPay gave the \
account, e.g. 256612345678901 (the value is not shown)
    """
    return MerchantIdInput(value).check()


def check_timeout(value: object) -> float:
    """``value`` as seconds one attempt may take: above 0, at most a day."""
    return float(number("timeout", value, above=0, at_most=MAX_SECONDS))


def check_instance(field: str, value: object, kind: type[_T]) -> _T | None:
    """Return ``value`` if it is ``None`` or a ``kind``, else raise naming ``field``."""
    if value is None or isinstance(value, kind):
        return value
    raise OPayValidationError(field, f"must be a {kind.__name__} or None, got {value!r}")


def make_sender(
    merchant_id: str,
    secret_key: SecretKey,
    url_for: Callable[[str], str],
    *,
    timeout: object,
    retry: object,
    retry_budget: object,
    http_client: object,
    transport: object,
    backend: object,
    max_connections: object,
    trust_env: bool,
    rate_limit: object,
    tracer_provider: object = None,
    meter_provider: object = None,
) -> Sender:
    """Check the client's settings and build its `Sender` (and its own pool).

    ``timeout=None`` is 30 s (`DEFAULT_TIMEOUT`), except through a caller's
    ``http_client``: there the client's own timeouts bound each attempt, and the retry
    policy's ``timeout`` bounds the call.

    Raises:
        OPayValidationError: A bad setting; nothing is built.
    """
    clients_own = timeout is None and http_client is not None
    seconds = DEFAULT_TIMEOUT if timeout is None else check_timeout(timeout)
    policy = check_instance("retry", retry, RetryPolicy) or RetryPolicy()
    budget = check_instance("retry_budget", retry_budget, RetryBudget)
    connections = number(
        "max_connections", max_connections, integer=True, at_least=1, at_most=MAX_CONNECTIONS
    )
    rate = check_rate(rate_limit)
    exchange = make_exchange(
        merchant_id=merchant_id,
        secret_key=secret_key,
        timeout=None if clients_own else seconds,
        headers=HEADERS,
        http_client=http_client,
        transport=transport,
        backend=backend,
        max_connections=connections,
        trust_env=trust_env,
    )
    return Sender(
        exchange=exchange,
        url_for=url_for,
        timeout=math.inf if clients_own else seconds,
        retry=policy,
        bucket=None if budget is None else TokenBucket(budget),
        limiter=None if rate is None else RateLimiter(rate),
        telemetry=telemetry_for(tracer_provider, meter_provider),
    )


def _variable(name: str) -> str | None:
    """The environment variable ``name`` without surrounding whitespace; ``None`` if blank."""
    return os.environ.get(name, "").strip() or None


def _checked_variable(merchant_id: MerchantIdInput, *, swapped: bool) -> str:
    """``OPAY_MERCHANT_ID``'s id; when it holds a key, say which variables to look at."""
    if not looks_like_key(os.environ.get("OPAY_MERCHANT_ID")):
        return merchant_id.check()
    if swapped:
        problem = (
            "OPAY_MERCHANT_ID holds what looks like a key (OPAYPRV...) and OPAY_SECRET_KEY "
            "what looks like a merchant id (digits): the two variables look swapped"
        )
    else:
        problem = (
            "OPAY_MERCHANT_ID holds what looks like a key (OPAYPRV... or OPAYPUB...), not "
            "a merchant id: is it swapped with OPAY_SECRET_KEY?"
        )
    raise OPayValidationError("merchant_id", f"{problem} (neither value is shown)")


def environment_options(overrides: ClientOptions) -> ClientOptions:
    """The options ``OPAY_*`` variables give, with ``overrides`` taking precedence.

    The caller has wrapped an overriding ``secret_key`` in ``SecretKey`` already; the
    key read here is wrapped before it is bound to anything.

    Raises:
        OPayValidationError: A required variable is missing or a value is bad.
    """
    options: ClientOptions = {}
    key = _variable("OPAY_SECRET_KEY")
    if key is not None:
        options["secret_key"] = SecretKey(key)
    swapped = key is not None and is_merchant_id(key)  # a key never is (it is OPAYPRV...)
    del key
    merchant_id = MerchantIdInput(_variable("OPAY_MERCHANT_ID"))  # shown only if an id
    if "merchant_id" not in overrides and _variable("OPAY_MERCHANT_ID") is not None:
        options["merchant_id"] = _checked_variable(merchant_id, swapped=swapped)
    environment = _variable("OPAY_ENVIRONMENT")
    if environment is not None:
        options["environment"] = check_environment(environment.lower())
    base_url = _variable("OPAY_BASE_URL")
    if base_url is not None:
        options["base_url"] = base_url
    options.update(overrides)
    for field, variable in (("merchant_id", "OPAY_MERCHANT_ID"), ("secret_key", "OPAY_SECRET_KEY")):
        if field not in options:
            raise OPayValidationError(field, f"set the {variable} environment variable")
    return options
