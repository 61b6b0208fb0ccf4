"""Every way an answer can go wrong maps to one typed OPayError, and nothing else escapes."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import socket

import httpx2
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

import opay_async
from opay_async import (
    AuthenticationError,
    CloseOutcome,
    CloseRequest,
    InvalidRequestError,
    MerchantNotAvailableError,
    MerchantNotConfiguredError,
    OPayAPIError,
    OPayClient,
    OPayConnectionError,
    OPayError,
    OPayHTTPError,
    OPayResponseError,
    OPayTimeoutError,
    OrderStatus,
    Payment,
    PaymentNotFoundError,
    RetryPolicy,
    ServiceUnavailableError,
)
from opay_async._errors import api_error_for, redact
from opay_async._wire import parse_retry_after
from tests.helpers import (
    MERCHANT_ID,
    SECRET_KEY,
    ScriptedOPay,
    hx,
    names_only,
    success,
)

ONCE = RetryPolicy(attempts=1)


def answer(payload: object, status: int = 200, **headers: str) -> hx.Response:
    return hx.Response(status, content=json.dumps(payload).encode(), headers=headers)


async def close_with(*answers: hx.Response | Exception, **options: object) -> object:
    recorder = ScriptedOPay(*answers)
    async with recorder.client(retry=ONCE, **options) as opay:  # type: ignore[arg-type]
        return await opay.close_payment(reference="R-1", country="EG")


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("02000", AuthenticationError),
        ("02001", InvalidRequestError),
        ("02002", MerchantNotConfiguredError),
        ("02006", PaymentNotFoundError),
        ("00012", PaymentNotFoundError),
        ("02812", PaymentNotFoundError),
        ("02007", MerchantNotAvailableError),
        ("50003", ServiceUnavailableError),
    ],
)
async def test_each_documented_code_has_its_class(code: str, cls: type[OPayAPIError]) -> None:
    with pytest.raises(cls) as caught:
        await close_with(answer({"code": code, "message": "as OPay says."}))
    error = caught.value
    assert isinstance(error, OPayAPIError)
    assert (error.code, error.message, error.reference, error.order_no) == (
        code,
        "as OPay says.",
        "R-1",
        None,
    )
    assert str(error) == f"[{code}] as OPay says. (reference='R-1')"
    assert error.retryable is (code == "50003")


async def test_an_unknown_code_is_the_base_class_and_not_retried() -> None:
    with pytest.raises(OPayAPIError) as caught:
        await close_with(answer({"code": "99", "message": "system error"}))
    assert type(caught.value) is OPayAPIError
    assert not caught.value.retryable
    assert api_error_for("99", "x", status_code=503).retryable  # unless the status says so


async def test_numeric_codes_and_missing_messages_are_handled() -> None:
    with pytest.raises(PaymentNotFoundError) as caught:
        await close_with(answer({"code": 2006}))  # a JSON number: the 5-digit code 02006
    assert caught.value.code == "02006"
    assert caught.value.message == "(no message)"
    payment = await close_with(
        answer({**success({"country": "EG", "reference": "R-1"}), "code": 0})
    )
    assert payment.is_closed  # type: ignore[attr-defined]


async def test_an_http_502_with_html_is_an_http_error() -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    with pytest.raises(OPayHTTPError) as caught:
        await close_with(hx.Response(502, text=page, headers={"Content-Type": "text/html"}))
    error = caught.value
    assert error.status_code == 502
    assert error.retryable
    assert "502 Bad Gateway" in str(error)
    assert str(error).startswith("HTTP 502: ")


async def test_a_non_2xx_answer_with_opay_json_is_an_api_error() -> None:
    with pytest.raises(AuthenticationError) as caught:
        await close_with(answer({"code": "02000", "message": "authentication failed."}, 401))
    assert caught.value.status_code == 401


async def test_a_success_code_with_an_error_status_is_an_http_error() -> None:
    with pytest.raises(OPayHTTPError):
        await close_with(answer(success({"country": "EG", "reference": "R-1"}), 500))


@pytest.mark.parametrize(
    "body",
    [b"<html>maintenance</html>", b"", b'{"code":"00000","message":"SUCC', b"[1,2]", b"\xff\xfe"],
)
async def test_a_200_that_is_not_opay_json_is_a_response_error(body: bytes) -> None:
    with pytest.raises(OPayResponseError):
        await close_with(hx.Response(200, content=body))


@pytest.mark.parametrize(
    "payload",
    [
        {"code": "00000", "message": "SUCCESSFUL"},
        {"code": "00000", "data": None},
        {"code": "00000", "data": {"reference": "R-1"}},
        {"code": "00000", "data": {"orderStatus": 3}},
    ],
)
async def test_a_success_without_what_it_must_carry_is_a_response_error(payload: object) -> None:
    with pytest.raises(OPayResponseError, match="data"):
        await close_with(answer(payload))


async def test_unknown_statuses_and_fields_do_not_break_parsing() -> None:
    body = success({"country": "EG", "reference": "R-1"}, status="REVERSED")
    body["data"]["newField"] = {"nested": True}
    body["traceId"] = "abc"
    with pytest.raises(opay_async.PaymentNotClosedError) as caught:
        await close_with(answer(body))
    assert caught.value.payment.order_status is OrderStatus.UNKNOWN
    assert caught.value.payment.raw_order_status == "REVERSED"
    assert "'REVERSED', which is not CLOSE" in str(caught.value)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ({"total": 400, "currency": "EGP"}, (400, "EGP")),
        ({"total": "400", "currency": "EGP"}, (400, "EGP")),
        ({"total": -1, "currency": "EGP"}, None),
        ({"total": 4.5, "currency": "EGP"}, None),
        ({"total": 400, "currency": "EGYPT"}, None),
        ("400 EGP", None),
        (None, None),
    ],
)
async def test_amounts_are_parsed_or_dropped(amount: object, expected: object) -> None:
    body = success({"country": "EG", "reference": "R-1"})
    body["data"]["amount"] = amount
    payment = await close_with(answer(body))
    got = payment.amount  # type: ignore[attr-defined]
    assert (None if got is None else (got.total, got.currency)) == expected


async def test_missing_identifiers_in_the_answer_fall_back_to_the_request() -> None:
    body = {"code": "00000", "data": {"orderStatus": "CLOSE"}}
    payment = await close_with(answer(body))
    assert payment.reference == "R-1"  # type: ignore[attr-defined]
    assert payment.country == "EG"  # type: ignore[attr-defined]


async def test_an_identifier_answered_in_a_form_not_read_is_another_payment() -> None:
    body = {"code": "00000", "data": {"orderStatus": "CLOSE", "country": "??"}}
    with pytest.raises(OPayResponseError, match=r"its country is '\?\?', not 'EG'"):
        await close_with(answer(body))


async def test_connection_refused_by_the_transport() -> None:
    with pytest.raises(OPayConnectionError) as caught:
        await close_with(hx.ConnectError("All connection attempts failed"))
    assert caught.value.retryable
    assert "ConnectError" in str(caught.value)


async def test_connection_refused_for_real() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with OPayClient(
        MERCHANT_ID, SECRET_KEY, base_url=f"http://127.0.0.1:{port}", retry=ONCE
    ) as opay:
        with pytest.raises(OPayConnectionError) as caught:
            await opay.close_payment(reference="R-1", country="EG")
    assert type(caught.value) is OPayConnectionError


async def test_read_timeout() -> None:
    with pytest.raises(OPayTimeoutError) as caught:
        await close_with(hx.ReadTimeout("timed out"))
    assert isinstance(caught.value, OPayConnectionError)
    assert caught.value.retryable


async def test_permanent_transport_errors_are_not_retried() -> None:
    with pytest.raises(OPayConnectionError) as caught:
        await close_with(hx.UnsupportedProtocol("no such scheme"))
    assert not caught.value.retryable


async def test_other_httpx_errors_are_wrapped() -> None:
    with pytest.raises(OPayResponseError):
        await close_with(hx.DecodingError("bad gzip"))
    with pytest.raises(OPayConnectionError) as caught:
        await close_with(hx.TooManyRedirects("loop"))
    assert not caught.value.retryable


async def test_bugs_are_not_disguised_as_opay_errors() -> None:
    with pytest.raises(ZeroDivisionError):
        await close_with(ZeroDivisionError())  # type: ignore[arg-type]


def test_retry_after_parsing() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    past = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT")
    assert past == 0.0
    assert parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT") == 86_400  # capped at a day
    # at most 64 characters are parsed (spaces included): a header is not a document
    assert parse_retry_after("0" * 63 + "7") == 7.0
    assert parse_retry_after("0" * 64 + "7") is None
    assert parse_retry_after(" " * 62 + "7 ") == 7.0


def test_redact_removes_keys_and_signatures() -> None:
    text = f"key OPAYPRV12345abc sig {'ab12' * 32} pub OPAYPUB99"
    assert redact(text) == "key [redacted] sig [redacted] pub [redacted]"


def test_errors_read_well() -> None:
    error = OPayError("plain")
    assert str(error) == "plain"
    assert repr(error) == "OPayError('plain')"
    both = PaymentNotFoundError("02006", "payment not found.", reference="R", order_no="1")
    assert str(both) == "[02006] payment not found. (reference='R', order_no='1')"


#: Successes and near-successes, so the Payment branch below is reached, not only errors.
NEAR_SUCCESS = st.fixed_dictionaries(
    {
        "code": st.sampled_from(["00000", "00"]),
        "data": st.fixed_dictionaries(
            {"orderStatus": st.sampled_from(["CLOSE", "CLOSE", "CLOSE", "SUCCESS", "close"])},
            optional={
                "reference": st.sampled_from(["R-1", "R-1", "R-2"]),
                "country": st.sampled_from(["EG", "EG", "NG"]),
                "orderNo": st.text(max_size=6),
                "amount": st.none()
                | st.fixed_dictionaries(
                    {
                        "total": st.integers(-1, 10**19) | st.text(max_size=4),
                        "currency": st.sampled_from(["EGP", "X", "ÉGP"]),
                    }
                ),
            },
        ),
    }
).map(lambda value: json.dumps(value).encode())


#: What the property below saw: a run that never reaches the Payment branch fails.
REACHED: dict[str, int] = {"payment": 0, "error": 0}


@given(
    status=st.sampled_from([200, 201, 200, 200, 400, 404, 429, 500, 502, 503]),
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda value: json.dumps(value).encode()),
        st.fixed_dictionaries(
            {
                "code": st.sampled_from(["00000", "02006", "50003", "7"]),
                "data": st.none()
                | st.dictionaries(
                    st.sampled_from(["orderStatus", "amount", "reference", "country"]),
                    st.none() | st.integers() | st.text(max_size=10),
                ),
            }
        ).map(lambda value: json.dumps(value).encode()),
        NEAR_SUCCESS,
        NEAR_SUCCESS,
    ),
)
@example(status=200, body=b'{"code": "00", "data": {"orderStatus": "CLOSE", "country": "EG"}}')
def any_answer_gives_a_payment_or_an_opay_error(status: int, body: bytes) -> None:
    async def run() -> object:
        try:
            return await close_with(hx.Response(status, content=body))
        except OPayError as error:
            return error

    result = asyncio.run(run())  # anything but a Payment or an OPayError fails the test here
    if isinstance(result, Payment):
        REACHED["payment"] += 1
        event("a Payment")
        sent = json.loads(body)  # an independent reading of what was answered
        assert 200 <= status < 300
        assert sent["code"] in {"00000", "00"}
        assert sent["data"]["orderStatus"] == "CLOSE"
        assert names_only(sent["data"], "R-1", "EG")
        assert result.reference == "R-1"  # never a payment other than the one asked for
        assert result.is_closed
    else:
        REACHED["error"] += 1
        event("an OPayError")
        assert isinstance(result, OPayError)
        assert result.reference == "R-1"  # every error says which request it is about
        assert str(result).isprintable()


def test_any_answer_gives_a_payment_or_an_opay_error() -> None:
    REACHED.update(payment=0, error=0)
    any_answer_gives_a_payment_or_an_opay_error()
    assert REACHED["payment"] > 0  # the Payment branch's assertions ran
    assert REACHED["error"] > 0


# -- errors travel: pickle, copy, __cause__ ------------------------------------------------


def paid_or(status: OrderStatus) -> Payment:
    return Payment(
        reference="R-1",
        order_no="211",
        country="EG",
        amount=opay_async.Amount(400, "EGP"),
        order_status=status,
    )


def every_error() -> list[OPayError]:
    """One instance of every public error class, with every attribute set."""

    identity = {"reference": "R-1", "order_no": "211"}
    made: list[OPayError] = [
        OPayError("plain", retryable=True, retry_after=2.0, **identity),  # type: ignore[arg-type]
        opay_async.OPayValidationError("country", "must be two letters", **identity),  # type: ignore[arg-type]
        OPayHTTPError(502, "bad gateway", retry_after=3.0, **identity),  # type: ignore[arg-type]
        OPayResponseError("not JSON", **identity),  # type: ignore[arg-type]
        OPayConnectionError("refused", retryable=False, **identity),  # type: ignore[arg-type]
        OPayTimeoutError("slow", **identity),  # type: ignore[arg-type]
        OPayAPIError("99", "unknown", status_code=503, **identity),  # type: ignore[arg-type]
        opay_async.PaymentNotClosedError(paid_or(OrderStatus.PENDING)),
        opay_async.PaymentAlreadyPaidError(paid_or(OrderStatus.SUCCESS)),
        opay_async.RunStoppedError(
            opay_async.AuthenticationError("02000", "authentication failed."), **identity
        ),  # type: ignore[arg-type]
    ]
    made += [
        api_error_for(next(iter(cls.codes)), "as OPay says", status_code=200, **identity)  # type: ignore[arg-type]
        for cls in vars(opay_async).values()
        if isinstance(cls, type) and issubclass(cls, OPayAPIError) and cls.codes
    ]
    exported = {
        cls
        for cls in vars(opay_async).values()
        if isinstance(cls, type) and issubclass(cls, OPayError)
    }
    assert exported <= {type(error) for error in made}, "an error class is not covered"
    return made


def attributes(error: OPayError) -> dict[str, object]:
    """The error's attributes, an error among them (``stopped_by``) as its type and text."""
    return {
        name: (type(value), str(value), attributes(value))
        if isinstance(value, OPayError)
        else value
        for name, value in error.__dict__.items()
    }


@pytest.mark.parametrize("error", every_error(), ids=lambda error: type(error).__name__)
def test_every_error_survives_pickle_and_copy(error: OPayError) -> None:
    for travelled in (
        pickle.loads(pickle.dumps(error)),
        copy.copy(error),
        copy.deepcopy(error),
    ):
        assert type(travelled) is type(error)
        assert str(travelled) == str(error)
        assert repr(travelled) == repr(error)
        assert attributes(travelled) == attributes(error)  # retryable, fatal, codes, identity...
    outcome = CloseOutcome(
        request=CloseRequest(reference="R-1", country="EG"), payment=None, error=error, attempts=2
    )
    back = pickle.loads(pickle.dumps(outcome))
    assert (type(back.error), str(back.error), back.attempts) == (type(error), str(error), 2)


async def test_a_transport_failure_keeps_its_cause_without_its_frames() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with OPayClient(
        MERCHANT_ID, SECRET_KEY, base_url=f"http://127.0.0.1:{port}", retry=ONCE
    ) as opay:
        with pytest.raises(OPayConnectionError) as caught:
            await opay.close_payment(reference="R-1", country="EG")
    cause = caught.value.__cause__
    assert isinstance(cause, httpx2.ConnectError)  # the own pool is httpx2
    assert cause.__traceback__ is None  # httpcore's frames hold the signed headers
    assert caught.value.retryable
    assert pickle.loads(pickle.dumps(caught.value)).retryable
