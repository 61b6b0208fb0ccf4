"""The pytest plugin's fixtures, and instant_retries()."""

from __future__ import annotations

import subprocess
import sys

import pytest

from opay_async import OPayClient, RetryPolicy
from opay_async.testing import DEFAULT_MERCHANT_ID, FakeOPay, VirtualClock, instant_retries

pytest_plugins = ["pytester"]


def test_opay_fake_is_fresh(opay_fake: FakeOPay) -> None:
    assert opay_fake.merchant_id == DEFAULT_MERCHANT_ID
    assert not opay_fake.payments
    assert not opay_fake.requests
    assert not opay_fake.auto_create


async def test_opay_client_is_wired_to_opay_fake(
    opay_fake: FakeOPay, opay_client: OPayClient, opay_instant_retries: VirtualClock
) -> None:
    opay_fake.add_payment(reference="P-1")
    opay_fake.fail_next(2)
    payment = await opay_client.close_payment(reference="P-1", country="EG")
    assert payment.is_closed
    assert opay_client.merchant_id == opay_fake.merchant_id
    assert len(opay_instant_retries.sleeps) == 2
    assert all(seen.verified for seen in opay_fake.requests)


async def test_instant_retries_records_waits_and_restores_the_real_clock() -> None:
    fake = FakeOPay(auto_create=True)
    fake.fail_next(3)
    with instant_retries() as clock:
        async with fake.client(
            retry=RetryPolicy(attempts=4, timeout=86_400, wait_initial=10, wait_max=60)
        ) as opay:
            assert (await opay.close_payment(reference="R-1", country="EG")).is_closed
    assert len(clock.sleeps) == 3
    assert sum(clock.sleeps) > 1  # waits that would have taken seconds took none
    from opay_async._clock import RealClock, current_clock  # noqa: PLC0415

    assert isinstance(current_clock(), RealClock)


def test_importing_the_testing_module_does_not_import_pytest() -> None:
    code = "import sys, opay_async.testing; assert 'pytest' not in sys.modules, 'pytest'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_fixtures_as_a_user_gets_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        seen = []

        @pytest.mark.asyncio
        async def test_cancel(opay_fake, opay_client, opay_instant_retries):
            opay_fake.add_payment(reference="SHOP-1")
            opay_fake.fail_next(1)
            payment = await opay_client.close_payment(reference="SHOP-1", country="EG")
            assert payment.is_closed
            assert len(opay_instant_retries.sleeps) == 1
            seen.append(opay_client)

        def test_the_client_was_closed_after_the_test(opay_fake):
            assert seen[0].is_closed
            assert not opay_fake.payments  # a fresh fake per test
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-W", "error", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.assert_outcomes(passed=2)
