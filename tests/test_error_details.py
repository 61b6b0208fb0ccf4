"""The errors' details, each pinned: defaults, identities kept, half-built errors readable.

Written against the mutants that survived the rest of the suite (``nox -s mutants``):
each assertion fails if one detail of ``_errors.py`` changes.
"""

from __future__ import annotations

import pickle

import pytest

from opay_async import (
    OPayAPIError,
    OPayConnectionError,
    OPayError,
    OPayHTTPError,
    OPayTimeoutError,
    OPayValidationError,
    PaymentNotFoundError,
)
from opay_async._errors import api_error_for


def test_api_errors_default_to_http_200() -> None:
    assert PaymentNotFoundError("02006", "payment not found.").status_code == 200
    assert api_error_for("02006", "payment not found.").status_code == 200
    assert api_error_for("99", "odd").status_code == 200


def test_api_error_for_keeps_every_detail() -> None:
    error = api_error_for(
        "50003", "busy", status_code=503, reference="R-1", order_no="O-1", retry_after=2.5
    )
    assert (error.code, error.message, error.status_code) == ("50003", "busy", 503)
    assert (error.reference, error.order_no, error.retry_after) == ("R-1", "O-1", 2.5)
    assert str(error) == "[50003] busy (reference='R-1', order_no='O-1')"


# Factories, not errors: each error is built inside the test, so that mutation testing
# (which runs the tests that reach a function) sees this test reach each constructor.
IDENTIFIED = {
    "OPayValidationError": lambda: OPayValidationError(
        "country", "must be two letters", reference="R-1", order_no="O-1"
    ),
    "OPayHTTPError": lambda: OPayHTTPError(
        502, "bad gateway", reference="R-1", order_no="O-1", retry_after=1.0
    ),
    "OPayConnectionError": lambda: OPayConnectionError("refused", reference="R-1", order_no="O-1"),
    "OPayTimeoutError": lambda: OPayTimeoutError("too slow", reference="R-1", order_no="O-1"),
    "PaymentNotFoundError": lambda: api_error_for(
        "02006", "payment not found.", reference="R-1", order_no="O-1"
    ),
}


@pytest.mark.parametrize("name", sorted(IDENTIFIED))
def test_every_error_keeps_which_request_it_is_about(name: str) -> None:
    error: OPayError = IDENTIFIED[name]()
    assert type(error).__name__ == name
    assert (error.reference, error.order_no) == ("R-1", "O-1")
    assert str(error).endswith(" (reference='R-1', order_no='O-1')")
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.reference, copied.order_no, str(copied)) == ("R-1", "O-1", str(error))


def test_an_errors_args_hold_its_message() -> None:
    # What tools reading exceptions generically see (logging adapters, error trackers).
    assert OPayError("no answer").args == ("no answer",)
    assert OPayValidationError("timeout", "must be > 0").args == ("timeout: must be > 0",)
    assert api_error_for("02006", "payment not found.").args == ("payment not found.",)


def test_connection_errors_are_retryable_unless_told() -> None:
    assert OPayConnectionError("refused").retryable is True
    assert OPayConnectionError("bad certificate", retryable=False).retryable is False
    assert OPayConnectionError("refused").retry_after is None


def test_http_errors_keep_retry_after_and_say_their_status() -> None:
    error = OPayHTTPError(503, "busy", retry_after=3.0)
    assert (error.status_code, error.retryable, error.retry_after) == (503, True, 3.0)
    assert str(error) == "HTTP 503: busy"
    assert OPayHTTPError(404, "no").retryable is False


@pytest.mark.parametrize(
    ("cls", "shown"),
    [
        (OPayError, "half built"),
        (OPayAPIError, "[?] half built"),
        (OPayHTTPError, "HTTP ?: half built"),
        (OPayValidationError, "half built"),
    ],
)
def test_an_error_whose_constructor_has_not_run_still_reads(
    cls: type[OPayError], shown: str
) -> None:
    # What a traceback renderer or a logger meets when __init__ raised half-way.
    error = cls.__new__(cls, "half built")
    error.args = ("half built",)
    assert str(error) == shown
    assert repr(error) == f"{cls.__name__}({shown!r})"


def test_a_half_built_error_without_arguments_reads_empty() -> None:
    error = OPayError.__new__(OPayError)
    assert str(error) == ""
