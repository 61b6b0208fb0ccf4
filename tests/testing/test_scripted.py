"""Scripted references ([sim:...]): the grammar, in process, and over real HTTP."""

from __future__ import annotations

import asyncio
import re

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opay_async import CLOSE_PATH, OrderStatus, RetryPolicy, ServiceUnavailableError
from opay_async.testing import FakeOPay, FaultKind, ScriptError, instant_retries, parse_script
from tests.helpers import body_of, raw_post, signed, signed_for

# -- the grammar ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "ORDER-17",
        "sim:50003",
        "[sim]",
        "SIM-50003",
        "[simulate:50003]",
        "x[s im:drop]",
        "",
        "x[\u017fim:drop]",
    ],
)
def test_ordinary_references_hold_no_script(reference: str) -> None:
    assert parse_script(reference) is None


@given(st.text(max_size=80))
def test_no_reference_without_the_marker_is_ever_scripted(reference: str) -> None:
    if "[sim:" not in reference.lower():
        assert parse_script(reference) is None


@pytest.mark.parametrize(
    ("reference", "state", "faults"),
    [
        ("A[sim:paid]", OrderStatus.SUCCESS, []),
        ("[SIM:Pending]A", OrderStatus.PENDING, []),
        ("A-[Sim:FAILED]-B", OrderStatus.FAIL, []),
        ("A[sim:closed]", OrderStatus.CLOSE, []),
        ("A[sim:initial]", OrderStatus.INITIAL, []),
        ("A[sim:50003]", None, [(FaultKind.API_ERROR, None)]),
        ("A[sim: 50003x2 , http502X1 ,drop]", None, [
            (FaultKind.API_ERROR, 2), (FaultKind.HTTP_ERROR, 1), (FaultKind.DROP, None),
        ]),
        ("A[sim:paid,timeout-after-close]", OrderStatus.SUCCESS, [(FaultKind.TIMEOUT, None)]),
        ("A[sim:malformedx3,pending]", OrderStatus.PENDING, [(FaultKind.MALFORMED, 3)]),
    ],
)  # fmt: skip
def test_scripts_are_parsed(
    reference: str, state: OrderStatus | None, faults: list[tuple[FaultKind, int | None]]
) -> None:
    script = parse_script(reference)
    assert script is not None
    assert script.state is state
    assert [(fault.kind, count) for fault, count in script.steps] == faults


def test_a_script_picks_the_fault_of_each_attempt() -> None:
    script = parse_script("A[sim:50003x2,http503x1,02006]")
    assert script is not None
    kinds = [script.fault_for(n) for n in range(1, 7)]
    assert [(f.kind, f.code, f.status) for f in kinds if f] == [
        (FaultKind.API_ERROR, "50003", 502),
        (FaultKind.API_ERROR, "50003", 502),
        (FaultKind.HTTP_ERROR, "50003", 503),
        (FaultKind.API_ERROR, "02006", 502),
        (FaultKind.API_ERROR, "02006", 502),
        (FaultKind.API_ERROR, "02006", 502),
    ]
    finite = parse_script("A[sim:dropx1]")
    assert finite is not None
    assert [finite.fault_for(n) is None for n in (1, 2, 3)] == [False, True, True]


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("A[sim:paid", "one [sim:...] block"),
        ("A[sim:paid][sim:drop]", "one [sim:...] block"),
        ("A[sim:[drop]]", "one [sim:...] block"),
        ("A[sim:]", "unknown token ''"),
        ("A[sim:explode]", "unknown token 'explode'"),
        ("A[sim:5000]", "unknown token '5000'"),
        ("A[sim:500033]", "unknown token"),
        ("A[sim:http200]", "unknown token 'http200'"),
        ("A[sim:http5033]", "unknown token"),
        ("A[sim:50003x0]", "from 1 to 1000"),
        ("A[sim:50003x1001]", "from 1 to 1000"),
        ("A[sim:50003x99999]", "unknown token"),
        ("A[sim:paid,failed]", "two states"),
        ("A[sim:drop,50003]", "never applies"),
        ("A[sim:drop x2]", "unknown token"),
    ],
)
def test_bad_scripts_say_what_is_wrong(reference: str, says: str) -> None:
    with pytest.raises(ScriptError, match=re.escape(says)):
        parse_script(reference)


# -- in process -----------------------------------------------------------------------------


async def test_a_code_with_a_count_then_the_normal_answer() -> None:
    fake = FakeOPay()  # not auto_create: a scripted reference is created anyway
    reference = "RETRY-1[sim:50003x2]"
    codes = [
        (await raw_post(fake, body_of(country="EG", reference=reference))).json()["code"]
        for _ in range(4)
    ]
    assert codes == ["50003", "50003", "00000", "00000"]
    assert [seen.fault for seen in fake.requests] == [FaultKind.API_ERROR] * 2 + [None] * 2
    assert fake.payment(reference=reference).is_closed
    assert fake.closed_count == 1


async def test_the_sdk_retries_through_a_scripted_outage() -> None:
    fake = FakeOPay()
    with instant_retries() as clock:
        async with fake.client(retry=RetryPolicy(attempts=4)) as opay:
            payment = await opay.close_payment(reference="R[sim:50003x3]", country="EG")
            with pytest.raises(ServiceUnavailableError):
                await opay.close_payment(reference="R2[sim:50003]", country="EG")
    assert payment.is_closed
    assert len(clock.sleeps) == 3 + 3
    assert [p.reference for p in fake.payments] == ["R[sim:50003x3]"]  # faults change nothing


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("paid", "SUCCESS"),
        ("pending", "CLOSE"),
        ("failed", "FAIL"),
        ("closed", "CLOSE"),
        ("initial", "CLOSE"),
    ],
)
async def test_state_tokens_create_the_payment_in_that_state(token: str, status: str) -> None:
    fake = FakeOPay()
    reference = f"STATE-[sim:{token}]"
    answer = (await raw_post(fake, body_of(country="KE", reference=reference))).json()
    assert (answer["code"], answer["data"]["orderStatus"]) == ("00000", status)
    assert answer["data"]["amount"]["currency"] == "KES"
    assert fake.payment(reference=reference).order_status.value == status
    assert fake.closed_count == int(token in ("pending", "initial"))


async def test_a_paid_token_answers_as_paid_answer_says() -> None:
    fake = FakeOPay(paid_answer="error")
    answer = await raw_post(fake, body_of(country="EG", reference="P[sim:paid]"))
    assert answer.json()["code"] == "02001"


async def test_a_state_token_does_not_change_a_known_payment() -> None:
    fake = FakeOPay()
    fake.add_payment(reference="K[sim:paid]", status=OrderStatus.PENDING)
    answer = await raw_post(fake, body_of(country="EG", reference="K[sim:paid]"))
    assert answer.json()["data"]["orderStatus"] == "CLOSE"


async def test_http_status_malformed_and_after_close_tokens() -> None:
    fake = FakeOPay()
    http = await raw_post(fake, body_of(country="EG", reference="H[sim:http429x1]"))
    assert (http.status_code, http.headers["content-type"]) == (429, "text/html")
    assert "429 Too Many Requests" in http.text
    assert (await raw_post(fake, body_of(country="EG", reference="H[sim:http599x1]"))).text
    malformed = await raw_post(fake, body_of(country="EG", reference="M[sim:malformedx1]"))
    with pytest.raises(ValueError):
        malformed.json()
    with pytest.raises(httpx2.RemoteProtocolError):
        await raw_post(fake, body_of(country="EG", reference="D[sim:drop-after-closex1]"))
    with pytest.raises(httpx2.ReadTimeout):
        await raw_post(fake, body_of(country="EG", reference="T[sim:timeout-after-closex1]"))
    with pytest.raises(httpx2.ReadTimeout):
        await raw_post(fake, body_of(country="EG", reference="N[sim:timeoutx1]"))
    assert fake.payment(reference="D[sim:drop-after-closex1]").is_closed
    assert fake.payment(reference="T[sim:timeout-after-closex1]").is_closed
    assert not [p for p in fake.payments if p.reference and p.reference.startswith(("H", "M"))]
    assert fake.closed_count == 2


async def test_a_bad_script_answers_02001_with_the_reason() -> None:
    fake = FakeOPay(auto_create=True)
    answer = await raw_post(fake, body_of(country="EG", reference="X[sim:explode]"))
    assert answer.json()["code"] == "02001"
    assert "unknown token 'explode'" in answer.json()["message"]
    assert fake.payments == []


async def test_scripts_apply_only_to_requests_signed_right() -> None:
    fake = FakeOPay()
    body = body_of(country="EG", reference="S[sim:50003x1]")
    wrong = await raw_post(fake, body, signed(body, "OPAYPRV_wrong", fake.merchant_id))
    assert wrong.json()["code"] == "02000"
    assert (await raw_post(fake, body)).json()["code"] == "50003"  # still the first
    assert (await raw_post(fake, body)).json()["code"] == "00000"


async def test_queued_faults_come_before_scripts_and_do_not_use_them_up() -> None:
    fake = FakeOPay()
    fake.fail_next_http(1)
    body = body_of(country="EG", reference="Q[sim:02007x1]")
    assert (await raw_post(fake, body)).status_code == 502
    assert (await raw_post(fake, body)).json()["code"] == "02007"
    assert (await raw_post(fake, body)).json()["code"] == "00000"


async def test_reset_starts_every_script_again() -> None:
    fake = FakeOPay()
    body = body_of(country="EG", reference="AGAIN[sim:50003x1]")
    assert (await raw_post(fake, body)).json()["code"] == "50003"
    assert (await raw_post(fake, body)).json()["code"] == "00000"
    fake.reset()
    assert fake.payments == []
    assert (await raw_post(fake, body)).json()["code"] == "50003"


# -- over real HTTP -------------------------------------------------------------------------


async def test_scripted_references_over_real_http_with_a_plain_client() -> None:
    fake = FakeOPay(auto_create=False)  # as `opay-async simulate --strict`

    async def close(reference: str, wait: float = 5.0) -> httpx2.Response:
        body = body_of(country="NG", reference=reference)
        return await http.post(
            CLOSE_PATH, content=body, headers=signed_for(fake, body), timeout=wait
        )

    async with (
        asyncio.timeout(20),
        fake.serve(port=0) as base_url,
        httpx2.AsyncClient(base_url=base_url) as http,
    ):
        flaky = "GO-1[sim:50003x1,http503x1]"
        assert (await close(flaky)).json()["code"] == "50003"
        assert (await close(flaky)).status_code == 503
        assert (await close(flaky)).json()["data"]["orderStatus"] == "CLOSE"
        paid = (await close("GO-2[sim:paid]")).json()
        assert (paid["code"], paid["data"]["orderStatus"]) == ("00000", "SUCCESS")
        assert (await close("GO-3[sim:02006]")).json() == {
            "code": "02006",
            "message": "payment not found.",
        }
        assert (await close("GO-4")).json()["code"] == "02006"  # strict: unknown
        with pytest.raises(httpx2.RemoteProtocolError):
            await close("GO-5[sim:dropx1]")
        with pytest.raises(httpx2.ReadTimeout):
            await close("GO-6[sim:timeoutx1]", wait=0.3)
        assert (await close("GO-6[sim:timeoutx1]")).json()["code"] == "00000"
        requests = (await http.get("/_simulator/requests")).json()["requests"]
    assert [r["fault"] for r in requests] == [
        "api_error",
        "http_error",
        None,
        None,
        "api_error",
        None,
        "drop",
        "timeout",
        None,
    ]
    assert all(r["verified"] for r in requests)
