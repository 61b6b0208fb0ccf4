"""Redaction leaves no fragment of a key: keys hold ``_``, ``.`` and ``-`` too.

OPay's keys look like ``OPAYPRV16057638845580.5549489``; a test key is
``OPAYPRV_test_secret_0187828``. A message echoed by a proxy or by OPay that quotes one
must not keep any 8 characters of it, whichever of ``[0-9A-Za-z._-]`` it is made of.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opay_async import OPayAPIError, OPayError, RetryPolicy
from opay_async._errors import redact
from opay_async.testing import FakeOPay
from tests.helpers import SECRET_KEY

KEY_BODY = st.text(
    alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._-",
    min_size=8,
    max_size=60,
)
KEYS = st.builds(
    lambda prefix, body, odd, at: prefix + body[:at] + odd + body[at:],
    st.sampled_from(["OPAYPRV", "OPAYPUB"]),
    KEY_BODY,
    st.sampled_from(["_", ".", "-", "_.", "-_", "..", "_x-y.z"]),  # at least one of them
    st.integers(0, 60),
)
SURROUNDINGS = st.sampled_from(["", " ", "key=", "'", '"', "(", ": ", "\n", ",", "/"])


def fragments(key: str, size: int = 8) -> list[str]:
    """Every ``size`` characters of ``key`` (the prefix alone is not a secret)."""
    return [key[i : i + size] for i in range(len(key) - size + 1)]


@pytest.mark.parametrize(
    "key",
    [
        SECRET_KEY,  # OPAYPRV_test_secret_0187828
        "OPAYPRV16057638845580.5549489",
        "OPAYPUB16057638845580.5549489",
        "OPAYPRV-live-2a9f-77c1-00e8",
        "OPAYPRV.a.b.c.d.e.f.g.h",
        "OPAYPRV_",
    ],
)
def test_keys_with_underscores_dots_and_dashes_are_redacted_whole(key: str) -> None:
    text = f"invalid key {key} for merchant 256612345678901 (see {key})"
    redacted = redact(text)
    assert redacted == "invalid key [redacted] for merchant 256612345678901 (see [redacted])"


@given(KEYS, SURROUNDINGS, SURROUNDINGS)
def test_no_eight_characters_of_a_key_survive_redaction(key: str, before: str, after: str) -> None:
    text = f"the server said: {before}{key}{after} and stopped"
    redacted = redact(text)
    assert "[redacted]" in redacted
    for fragment in fragments(key):
        assert fragment not in redacted, (fragment, redacted)


@given(KEYS)
def test_an_echoed_key_leaves_nothing_in_the_error_or_its_repr(key: str) -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(code="02000", message=f"authentication failed for key {key}")

    async def close() -> OPayError:
        async with fake.client(retry=RetryPolicy.none()) as opay:
            try:
                await opay.close_payment(reference="R-1", country="EG")
            except OPayError as error:
                return error
        raise AssertionError("the close succeeded")

    error = asyncio.run(close())
    assert isinstance(error, OPayAPIError)
    shown = f"{error} {error!r} {error.message} {error.args}"
    assert "[redacted]" in shown
    for fragment in fragments(key):
        assert fragment not in shown, (fragment, shown)
