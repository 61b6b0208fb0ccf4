"""The client's settings: their checks, the sender they make, and what the environment gives.

``OPayClient`` checks each argument here before anything is built or sent
(`make_sender`), and ``OPayClient.from_env`` takes its options from
`environment_options`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final, TypedDict, TypeVar

import httpx

from ._auth import OPaySignatureAuth
from ._budget import RetryBudget, TokenBucket
from ._connections import Backend, own_http_client
from ._environment import Environment, check_environment
from ._errors import OPayValidationError
from ._rate import RateLimiter, check_rate
from ._retry import RetryPolicy
from ._secret import SecretKey
from ._sending import HEADERS, Sender
from ._validation import MAX_CONNECTIONS, MAX_SECONDS, number

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClientOptions",
    "check_instance",
    "check_merchant_id",
    "environment_options",
    "make_sender",
]

_T = TypeVar("_T")

#: Seconds one attempt (connect, send, answer) may take in all.
DEFAULT_TIMEOUT: Final = 30.0


class ClientOptions(TypedDict, total=False):
    """The keyword arguments of ``OPayClient``, each optional (``from_env``'s overrides)."""

    merchant_id: str
    secret_key: str | SecretKey
    environment: Environment
    base_url: str | None
    timeout: float
    retry: RetryPolicy | None
    retry_budget: RetryBudget | None
    http_client: httpx.AsyncClient | None
    transport: httpx.AsyncBaseTransport | None
    backend: Backend
    max_connections: int
    trust_env: bool
    rate_limit: float | None


def check_merchant_id(value: object) -> str:
    """Return ``value`` stripped, if it is a merchant id (printable ASCII, no spaces)."""
    if not isinstance(value, str) or not value.strip():
        raise OPayValidationError("merchant_id", "must be a non-empty string")
    value = value.strip()  # what a CRLF .env file leaves
    if not (value.isascii() and value.isprintable()) or " " in value:
        raise OPayValidationError(
            "merchant_id", f"must be printable ASCII without spaces, got {value!r}"
        )
    return value


def check_instance(field: str, value: object, kind: type[_T]) -> _T | None:
    """Return ``value`` if it is ``None`` or a ``kind``, else raise naming ``field``."""
    if value is None or isinstance(value, kind):
        return value
    raise OPayValidationError(field, f"must be a {kind.__name__} or None, got {value!r}")


def make_sender(
    auth: OPaySignatureAuth,
    url_for: Callable[[str], httpx.URL],
    *,
    timeout: object,
    retry: object,
    retry_budget: object,
    http_client: httpx.AsyncClient | None,
    transport: httpx.AsyncBaseTransport | None,
    backend: object,
    max_connections: object,
    trust_env: bool,
    rate_limit: object,
) -> Sender:
    """Check the client's settings and build its `Sender` (and its own pool).

    Raises:
        OPayValidationError: A bad setting; nothing is built.
    """
    seconds = number("timeout", timeout, above=0, at_most=MAX_SECONDS)
    policy = check_instance("retry", retry, RetryPolicy) or RetryPolicy()
    budget = check_instance("retry_budget", retry_budget, RetryBudget)
    connections = number(
        "max_connections", max_connections, integer=True, at_least=1, at_most=MAX_CONNECTIONS
    )
    rate = check_rate(rate_limit)
    if http_client is not None and transport is not None:
        raise OPayValidationError("transport", "give http_client or transport, not both")
    owned = http_client is None
    if http_client is None:
        http_client = own_http_client(
            backend=backend,
            max_connections=connections,
            trust_env=trust_env,
            transport=transport,
            headers=HEADERS,
        )
    return Sender(
        http=http_client,
        headers=None if owned else HEADERS,  # an owned pool carries them already
        auth=auth,
        url_for=url_for,
        timeout=float(seconds),
        retry=policy,
        bucket=None if budget is None else TokenBucket(budget),
        limiter=None if rate is None else RateLimiter(rate),
    )


def _variable(name: str) -> str | None:
    """The environment variable ``name`` without surrounding whitespace; ``None`` if blank."""
    return os.environ.get(name, "").strip() or None


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
    del key
    merchant_id = _variable("OPAY_MERCHANT_ID")
    if merchant_id is not None:
        options["merchant_id"] = merchant_id
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
