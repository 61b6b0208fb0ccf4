"""What the simulate command needs: the banner, and its --fault-rate and --latency values."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess

import httpx2
import pytest

from opay_async import OPayClient, OPayValidationError
from opay_async.testing import (
    DEFAULT_MERCHANT_ID,
    DEFAULT_SECRET_KEY,
    FakeOPay,
    FaultRates,
    SimulatorBanner,
    parse_latency,
)


async def test_the_banner_of_a_simulator_served_on_port_0() -> None:
    fake = FakeOPay(auto_create=True)
    fake.fault_rates = FaultRates.parse("0.05")
    fake.set_latency(*parse_latency("0.01-0.05"))
    async with asyncio.timeout(20), fake.serve(port=0) as base_url:
        banner = SimulatorBanner.of(fake, base_url)
        lines = str(banner).splitlines()
        assert lines[0] == f"OPay simulator listening on {base_url}"
        assert banner.port == int(base_url.rsplit(":", 1)[1]) > 0
        async with httpx2.AsyncClient() as http:  # the port it got is the port it serves
            assert (await http.get(f"http://127.0.0.1:{banner.port}/_simulator/")).is_success
    text = str(banner)
    assert DEFAULT_MERCHANT_ID in text
    assert f"{DEFAULT_SECRET_KEY} (public and made up: not a secret)" in text
    assert "50003 5.0%" in text
    assert "0.01-0.05 s" in text
    assert f"admin API         {base_url}/_simulator/" in text
    assert banner.environment == {
        "OPAY_MERCHANT_ID": DEFAULT_MERCHANT_ID,
        "OPAY_SECRET_KEY": DEFAULT_SECRET_KEY,
        "OPAY_BASE_URL": base_url,
    }
    assert lines[-1].strip() == banner.exports
    assert banner.exports == (
        f"export OPAY_MERCHANT_ID={DEFAULT_MERCHANT_ID} "
        f"OPAY_SECRET_KEY={DEFAULT_SECRET_KEY} OPAY_BASE_URL={base_url}"
    )


def test_the_export_line_works_in_a_shell() -> None:
    banner = SimulatorBanner(base_url="http://127.0.0.1:8000")
    shown = subprocess.run(
        ["/bin/sh", "-c", f"{banner.exports} && env"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ.get("PATH", "")},
    ).stdout.splitlines()
    assert {f"{name}={value}" for name, value in banner.environment.items()} <= set(shown)


async def test_the_environment_configures_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    banner = SimulatorBanner(base_url="http://127.0.0.1:8000")
    for name, value in banner.environment.items():
        monkeypatch.setenv(name, value)
    async with OPayClient.from_env() as client:
        assert client.merchant_id == DEFAULT_MERCHANT_ID


def test_a_key_that_is_not_the_default_is_never_shown() -> None:
    fake = FakeOPay("281821110129700", "OPAYPRV_real_looking_key", auto_create=False)
    banner = SimulatorBanner.of(fake, "http://127.0.0.1:9000")
    text = str(banner)
    assert "OPAYPRV_real_looking_key" not in text + repr(banner)
    assert "OPAY_SECRET_KEY" not in banner.exports
    assert "not shown" in text
    assert "02006 (strict)" in text
    with_source = SimulatorBanner.of(fake, "http://127.0.0.1:9000", key_source='"$(cat k)"')
    assert shlex.split(with_source.exports)[1:3] == [
        "OPAY_MERCHANT_ID=281821110129700",
        "OPAY_SECRET_KEY=$(cat k)",
    ]
    odd = SimulatorBanner(base_url="http://127.0.0.1:1", merchant_id="a b;rm")
    assert "OPAY_MERCHANT_ID='a b;rm'" in odd.exports
    assert "paid payments     02001" in str(
        SimulatorBanner.of(FakeOPay(paid_answer="error"), "x:1")
    )


@pytest.mark.parametrize(
    ("spec", "rates"),
    [
        ("0.05", FaultRates(service_unavailable=0.05)),
        (" 0 ", FaultRates()),
        ("1", FaultRates(service_unavailable=1.0)),
        ("http_502=0.1, drop=0.02", FaultRates(http_502=0.1, drop=0.02)),
        ("TIMEOUT=0.5,malformed=0.5", FaultRates(timeout=0.5, malformed=0.5)),
    ],
)
def test_fault_rates_from_a_command_line_value(spec: str, rates: FaultRates) -> None:
    assert FaultRates.parse(spec) == rates


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "fault rate"),
        ("five", "fault rate"),
        ("1.5", "fault rate"),
        ("-0.1", "fault rate"),
        ("nan", "fault rate"),
        ("lightning=0.1", "unknown kind 'lightning'"),
        ("drop=x", "drop"),
        ("drop=0.6,timeout=0.6", "at most 1"),
    ],
)
def test_bad_fault_rates_say_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(OPayValidationError, match=says):
        FaultRates.parse(spec)


def test_fault_rates_can_be_set_as_one_value() -> None:
    fake = FakeOPay()
    fake.fault_rates = FaultRates(drop=0.25)
    assert fake.fault_rates.as_dict()["drop"] == 0.25
    fake.set_fault_rates(timeout=0.1)
    assert fake.fault_rates == FaultRates(timeout=0.1)
    fake.clear_faults()
    assert fake.fault_rates.total == 0


@pytest.mark.parametrize(
    ("spec", "latency"),
    [("0.05", (0.05, 0.05)), ("0", (0.0, 0.0)), ("0.01-0.05", (0.01, 0.05)), ("1 - 2", (1, 2))],
)
def test_latency_from_a_command_line_value(spec: str, latency: tuple[float, float]) -> None:
    assert parse_latency(spec) == latency


@pytest.mark.parametrize("spec", ["", "fast", "0.5-0.1", "-1", "0.1-", "inf", "700", "1-2-3"])
def test_bad_latency_values_are_refused(spec: str) -> None:
    with pytest.raises(OPayValidationError, match="latency"):
        parse_latency(spec)
