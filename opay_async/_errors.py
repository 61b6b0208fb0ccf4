"""The exception hierarchy: every failure the SDK reports is an ``OPayError``."""

from __future__ import annotations

import re
from typing import ClassVar, Final, TypedDict, Unpack

__all__ = [
    "FATAL_HTTP_STATUSES",
    "RETRYABLE_HTTP_STATUSES",
    "AuthenticationError",
    "Identity",
    "InvalidRequestError",
    "MerchantNotAvailableError",
    "MerchantNotConfiguredError",
    "OPayAPIError",
    "OPayConnectionError",
    "OPayError",
    "OPayHTTPError",
    "OPayResponseError",
    "OPayTimeoutError",
    "OPayValidationError",
    "PaymentNotFoundError",
    "ServiceUnavailableError",
    "api_error_for",
    "redact",
]

#: HTTP statuses that mean "try again later" whatever the body says.
RETRYABLE_HTTP_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: HTTP statuses that mean "no request of this client can succeed" whatever the body says:
#: 401, authentication refused (by OPay or by a gateway in front of it), sent again by every
#: later request, signed with the same key and merchant id.
FATAL_HTTP_STATUSES: Final = frozenset({401})

# A hex run this long can only be a digest (an HMAC-SHA512 signature is 128 hex digits).
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64,}")
# OPay's keys look like OPAYPRV16... / OPAYPUB16...
_OPAY_KEY = re.compile(r"OPAY(?:PRV|PUB)[0-9A-Za-z._-]*")


class Identity(TypedDict, total=False):
    """The identifiers of the request an error is about.

    Attributes:
        reference: The merchant's order number, if the request named it.
        order_no: OPay's order number, if the request named it.
    """

    reference: str | None
    order_no: str | None


def redact(text: str) -> str:
    """Remove anything that looks like an OPay key or a signature from ``text``.

    Used on every piece of text that came from the network before it is put in an
    error message, so an echoing proxy cannot leak a credential into logs.

    Examples:
        >>> redact("Bearer " + "ab" * 64)
        'Bearer [redacted]'
    """
    return _OPAY_KEY.sub("[redacted]", _HEX_DIGEST.sub("[redacted]", text))


def _rebuild(cls: type[OPayError], args: tuple[object, ...]) -> OPayError:
    """Recreate an error without calling ``__init__`` (``__reduce__``'s constructor)."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class OPayError(Exception):
    """Base class of every error raised by ``opay_async``.

    Every attribute is set by the constructor, whether the error is retryable or fatal
    included, and errors survive ``pickle`` and ``copy`` (task queues and
    ``multiprocessing`` pickle results). A transport failure keeps the underlying
    exception as ``__cause__`` (which is not pickled).

    Attributes:
        message: What went wrong, in words.
        reference: The merchant order number of the request, when known.
        order_no: OPay's order number of the request, when known.
        retryable: Whether sending the same request again may succeed.
        retry_after: Seconds the server asked us to wait before trying again, if it said.
        fatal: Whether no later request of this client can succeed until the merchant's
            key or settings change (02000, 02002, 02007, HTTP 401): a bulk run stops
            sending at the first one. A fatal error is never retryable.

    Examples:
        >>> import pickle
        >>> error = OPayError("no answer", reference="A1", retryable=True)
        >>> pickle.loads(pickle.dumps(error))
        OPayError("no answer (reference='A1')")
    """

    def __init__(
        self,
        message: str,
        *,
        reference: str | None = None,
        order_no: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reference = reference
        self.order_no = order_no
        self.retryable = retryable and not fatal
        self.retry_after = retry_after
        self.fatal = fatal

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args), self.__dict__)

    def _identity(self) -> str:
        parts: list[str] = []
        reference = getattr(self, "reference", None)
        order_no = getattr(self, "order_no", None)
        if reference is not None:
            parts.append(f"reference={reference!r}")
        if order_no is not None:
            parts.append(f"order_no={order_no!r}")
        return f" ({', '.join(parts)})" if parts else ""

    def _text(self) -> str:
        """The message, also on an error whose constructor has not finished."""
        message = str(self.args[0]) if self.args else ""  # the constructor's ``message``
        return f"{message}{self._identity()}"

    def __str__(self) -> str:
        return self._text()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class OPayValidationError(OPayError, ValueError):
    """Input rejected before anything was sent.

    Attributes:
        field: The name of the offending argument or field.

    Examples:
        >>> from opay_async import CloseRequest
        >>> CloseRequest(reference="A1", country="Egypt")
        Traceback (most recent call last):
        ...
        opay_async._errors.OPayValidationError: country: must be two ASCII letters \
(ISO 3166-1 alpha-2, e.g. 'EG'), got 'Egypt'
    """

    def __init__(self, field: str, problem: str, **identity: Unpack[Identity]) -> None:
        super().__init__(f"{field}: {problem}", **identity)
        self.field = field


class OPayAPIError(OPayError):
    """OPay answered with a business error: a ``code`` other than a success code.

    One subclass exists per documented code; an unknown code raises this class itself.
    Only ``50003`` is retried, and an unknown code that came with an HTTP status that
    means "try later" (429, 500, 502, 503, 504): the status is trusted then. ``02000``,
    ``02002`` and ``02007`` are fatal (they are about the merchant, not the payment), and
    so is an unknown code that came with HTTP 401.

    Attributes:
        code: OPay's error code, e.g. ``"02006"``.
        status_code: The HTTP status of the answer.
    """

    #: The codes a subclass stands for.
    codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int = 200,
        reference: str | None = None,
        order_no: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            reference=reference,
            order_no=order_no,
            retryable=_answer_is_retryable(code, status_code),
            retry_after=retry_after,
            fatal=_answer_is_fatal(code, status_code),
        )
        self.code = code
        self.status_code = status_code

    def __str__(self) -> str:
        return f"[{getattr(self, 'code', '?')}] {self._text()}"


class AuthenticationError(OPayAPIError):
    """02000: the signature, the merchant id or the key is wrong.

    Close must be signed with the *secret* key (``OPAYPRV...``), not the public one.
    Fatal: every later request of the client is signed the same way.
    """

    codes = frozenset({"02000"})


class InvalidRequestError(OPayAPIError):
    """02001: OPay found the request parameters not valid."""

    codes = frozenset({"02001"})


class MerchantNotConfiguredError(OPayAPIError):
    """02002: the merchant is not configured for this function. Fatal."""

    codes = frozenset({"02002"})


class PaymentNotFoundError(OPayAPIError):
    """02006 (also 00012 and 02812 on OPay's error-code page): no such payment."""

    codes = frozenset({"02006", "00012", "02812"})


class MerchantNotAvailableError(OPayAPIError):
    """02007: the merchant is not available. Fatal."""

    codes = frozenset({"02007"})


class ServiceUnavailableError(OPayAPIError):
    """50003: OPay's service is not available; the request is retried."""

    codes = frozenset({"50003"})


_BY_CODE: Final[dict[str, type[OPayAPIError]]] = {
    code: cls
    for cls in (
        AuthenticationError,
        InvalidRequestError,
        MerchantNotConfiguredError,
        PaymentNotFoundError,
        MerchantNotAvailableError,
        ServiceUnavailableError,
    )
    for code in cls.codes
}


#: The answers about the merchant rather than the payment: no later close can succeed.
_FATAL: Final = frozenset(
    {AuthenticationError, MerchantNotConfiguredError, MerchantNotAvailableError}
)


def _answer_is_fatal(code: str, status_code: int) -> bool:
    """Whether no later request of the client can succeed after this OPay error answer."""
    known = _BY_CODE.get(code)
    if known is not None:
        return known in _FATAL
    return status_code in FATAL_HTTP_STATUSES


def _answer_is_retryable(code: str, status_code: int) -> bool:
    """Whether an OPay error answer may succeed when the request is sent again."""
    if code in ServiceUnavailableError.codes:
        return True
    return code not in _BY_CODE and status_code in RETRYABLE_HTTP_STATUSES


def api_error_for(
    code: str,
    message: str,
    *,
    status_code: int = 200,
    reference: str | None = None,
    order_no: str | None = None,
    retry_after: float | None = None,
) -> OPayAPIError:
    """Build the [`OPayAPIError`][opay_async.OPayAPIError] subclass that stands for ``code``.

    Examples:
        >>> api_error_for("02006", "payment not found.", reference="A1")
        PaymentNotFoundError("[02006] payment not found. (reference='A1')")
    """
    cls = _BY_CODE.get(code, OPayAPIError)
    return cls(
        code,
        message,
        status_code=status_code,
        reference=reference,
        order_no=order_no,
        retry_after=retry_after,
    )


class OPayHTTPError(OPayError):
    """A non-2xx HTTP answer that carried no usable OPay JSON answer.

    Retried for 429, 500, 502, 503 and 504. Fatal for 401 (authentication refused, by
    OPay or a gateway in front of it: every later request is refused the same way); not
    for 403, which a firewall may answer to one request's content and not another's.

    Attributes:
        status_code: The HTTP status code.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        reference: str | None = None,
        order_no: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            reference=reference,
            order_no=order_no,
            retryable=status_code in RETRYABLE_HTTP_STATUSES,
            retry_after=retry_after,
            fatal=status_code in FATAL_HTTP_STATUSES,
        )
        self.status_code = status_code

    def __str__(self) -> str:
        return f"HTTP {getattr(self, 'status_code', '?')}: {self._text()}"


class OPayResponseError(OPayError):
    """A 2xx answer that is not JSON, or JSON that lacks what a success must carry.

    Also an answer too large to be one (OPay's answers are under 1 KB). Never retried.
    """


class OPayConnectionError(OPayError):
    """The request could not be sent or its answer not received (a transport failure).

    Retried, unless it cannot succeed however often it is tried (a TLS certificate
    that does not verify, a URL httpx cannot send to): the constructor says which.
    Never fatal: nothing signed reached OPay, and a failure of one host or route (a
    country's host, a proxy, one bad node behind a load balancer) says nothing of the
    others.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        reference: str | None = None,
        order_no: str | None = None,
    ) -> None:
        super().__init__(message, reference=reference, order_no=order_no, retryable=retryable)


class OPayTimeoutError(OPayConnectionError):
    """An attempt took longer than the client's timeout. Retried."""
