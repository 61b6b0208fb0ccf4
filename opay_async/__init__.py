"""Async Python SDK for OPay's Cancel Payment API.

Examples:
    ```python
    from opay_async import OPayClient

    async with OPayClient.from_env() as opay:
        payment = await opay.close_payment(reference="65316571001", country="EG")
    ```
"""

from ._budget import RetryBudget
from ._client import OPayClient
from ._environment import CLOSE_PATH, Environment
from ._errors import (
    AuthenticationError,
    InvalidRequestError,
    MerchantNotAvailableError,
    MerchantNotConfiguredError,
    OPayAPIError,
    OPayConnectionError,
    OPayError,
    OPayHTTPError,
    OPayResponseError,
    OPayTimeoutError,
    OPayValidationError,
    PaymentNotFoundError,
    ServiceUnavailableError,
)
from ._http import Backend, OPaySignatureAuth, ShardedTransport, sign
from ._not_closed import PaymentAlreadyPaidError, PaymentNotClosedError
from ._outcome import CloseOutcome, CloseRecord
from ._payment import Amount, OrderStatus, Payment
from ._request import CloseRequest
from ._retry import RetryPolicy
from ._secret import SecretKey
from ._stop import RunStoppedError
from ._version import __version__

__all__ = [
    "CLOSE_PATH",
    "Amount",
    "AuthenticationError",
    "Backend",
    "CloseOutcome",
    "CloseRecord",
    "CloseRequest",
    "Environment",
    "InvalidRequestError",
    "MerchantNotAvailableError",
    "MerchantNotConfiguredError",
    "OPayAPIError",
    "OPayClient",
    "OPayConnectionError",
    "OPayError",
    "OPayHTTPError",
    "OPayResponseError",
    "OPaySignatureAuth",
    "OPayTimeoutError",
    "OPayValidationError",
    "OrderStatus",
    "Payment",
    "PaymentAlreadyPaidError",
    "PaymentNotClosedError",
    "PaymentNotFoundError",
    "RetryBudget",
    "RetryPolicy",
    "RunStoppedError",
    "SecretKey",
    "ServiceUnavailableError",
    "ShardedTransport",
    "__version__",
    "sign",
]
