"""The FastAPI example service, driven by FastAPI's TestClient against FakeOPay."""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from examples.fastapi_app.app import create_app
from opay_async import Amount, OrderStatus, RetryPolicy
from opay_async.testing import FakeOPay

# Retries without waiting: the app runs in TestClient's own thread and event loop.
NO_WAIT = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)


@pytest.fixture
def fake() -> FakeOPay:
    fake = FakeOPay()
    fake.add_payment(reference="SHOP-1", country="EG", amount=Amount(400, "EGP"))
    return fake


@pytest.fixture
def http(fake: FakeOPay) -> Iterator[TestClient]:
    app = create_app(client_factory=lambda: fake.client(retry=NO_WAIT))
    with TestClient(app) as client:
        yield client


def test_cancel_an_order(http: TestClient, fake: FakeOPay) -> None:
    answer = http.post("/orders/SHOP-1/cancel", params={"country": "EG"})
    assert answer.status_code == 200
    assert answer.json() == {
        "reference": "SHOP-1",
        "order_no": fake.payment(reference="SHOP-1").order_no,
        "country": "EG",
        "order_status": "CLOSE",
        "amount_total": 400,
        "currency": "EGP",
    }
    assert fake.payment(reference="SHOP-1").order_status is OrderStatus.CLOSE


@pytest.mark.parametrize(
    ("prepare", "reference", "country", "status"),
    [
        (lambda fake: None, "NO-SUCH", "EG", 404),
        (lambda fake: None, "SHOP-1", "EGY", 422),
        (
            lambda fake: fake.add_payment(reference="PAID", status=OrderStatus.SUCCESS),
            "PAID",
            "EG",
            409,
        ),
        (
            lambda fake: fake.add_payment(reference="FAILED", status=OrderStatus.FAIL),
            "FAILED",
            "EG",
            409,
        ),
        (lambda fake: fake.fail_next(3), "SHOP-1", "EG", 503),
        (lambda fake: fake.drop_next(3), "SHOP-1", "EG", 503),
        (lambda fake: fake.malformed_next(), "SHOP-1", "EG", 502),
        (lambda fake: fake.fail_next_http(status=404), "SHOP-1", "EG", 502),
        (
            lambda fake: fake.fail_next(code="02000", message="authentication failed."),
            "SHOP-1",
            "EG",
            502,
        ),
    ],
)
def test_sdk_errors_map_to_http_answers(
    http: TestClient, fake: FakeOPay, prepare: object, reference: str, country: str, status: int
) -> None:
    prepare(fake)  # type: ignore[operator]
    answer = http.post(f"/orders/{reference}/cancel", params={"country": country})
    assert answer.status_code == status
    assert fake.secret_key not in answer.text


def test_cancel_stale_orders_in_the_background(http: TestClient, fake: FakeOPay) -> None:
    references = [f"STALE-{number}" for number in range(40)]
    for reference in references[:35]:
        fake.add_payment(reference=reference, country="EG")
    answer = http.post(
        "/orders/cancel-stale", json={"references": references, "country": "EG", "concurrency": 5}
    )
    assert answer.status_code == 202
    job = answer.json()
    assert (job["state"], job["total"]) == ("running", 40)

    deadline = time.monotonic() + 10
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
        job = http.get(f"/jobs/{job['id']}").json()
    assert job["state"] == "done"
    assert (job["done"], job["closed"], job["failed"], job["paid_count"]) == (40, 35, 5, 0)
    assert job["errors"] == {"PaymentNotFoundError": 5}
    assert sorted(failure["reference"] for failure in job["failures"]) == references[35:]
    assert all(fake.payment(reference=r).is_closed for r in references[:35])


def test_a_job_reports_paid_orders_apart_and_bounds_its_lists(
    http: TestClient, fake: FakeOPay
) -> None:
    paid = [f"PAID-{n:03d}" for n in range(3)]
    missing = [f"GONE-{n:03d}" for n in range(150)]
    for reference in paid:
        fake.add_payment(reference=reference, country="EG", status=OrderStatus.SUCCESS)
    job = http.post(
        "/orders/cancel-stale",
        json={"references": ["SHOP-1", *paid, *missing], "country": "EG", "concurrency": 10},
    ).json()
    deadline = time.monotonic() + 10
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
        job = http.get(f"/jobs/{job['id']}").json()
    assert (job["closed"], job["paid_count"], job["failed"]) == (1, 3, 150)
    assert sorted(job["paid"]) == paid  # refund these; do not mark them cancelled
    assert len(job["failures"]) == 100  # bounded, while the count goes on
    first = job["failures"][0]
    assert first["error_type"] == "PaymentNotFoundError"
    assert (first["error_code"], first["retryable"]) == ("02006", False)
    assert all(fake.payment(reference=r).order_status is OrderStatus.SUCCESS for r in paid)


def test_unknown_job(http: TestClient) -> None:
    assert http.get("/jobs/nope").status_code == 404


def test_bad_bulk_requests_are_refused(http: TestClient) -> None:
    assert (
        http.post("/orders/cancel-stale", json={"references": [], "country": "EG"}).status_code
        == 422
    )


def test_shutdown_stops_running_jobs(fake: FakeOPay) -> None:
    fake.set_latency(0.05)
    app = create_app(client_factory=lambda: fake.client(retry=NO_WAIT))
    with TestClient(app) as http:
        job = http.post(
            "/orders/cancel-stale",
            json={"references": [f"R-{n}" for n in range(100)], "country": "EG", "concurrency": 1},
        ).json()
        jobs_state = http.get(f"/jobs/{job['id']}").json()["state"]
    assert jobs_state == "running"
    assert fake.request_count < 100  # the job was cancelled at shutdown, not run to the end


def finished(http: TestClient, job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
        job = http.get(f"/jobs/{job['id']}").json()
    return job


def test_a_job_counts_errors_by_one_kind_of_key(http: TestClient, fake: FakeOPay) -> None:
    fake.add_payment(reference="PAID", country="EG", status=OrderStatus.SUCCESS)
    references = ["SHOP-1", "PAID", "NO-SUCH", "A\x00B"]  # the last one is not printable
    job = http.post("/orders/cancel-stale", json={"references": references, "country": "EG"})
    job = finished(http, job.json())
    assert job["errors"] == {
        "OPayValidationError": 1,
        "PaymentAlreadyPaidError": 1,
        "PaymentNotFoundError": 1,
    }  # class names only: OPay's code is in the failure
    codes = {failure["error_type"]: failure["error_code"] for failure in job["failures"]}
    assert codes == {"OPayValidationError": None, "PaymentNotFoundError": "02006"}


PAGE = Path(__file__).parent.parent / "docs" / "fastapi.md"


def test_the_page_shows_what_a_job_answers() -> None:
    """docs/fastapi.md's requests, sent to the service on the simulator, get the answers shown."""
    page = PAGE.read_text()
    [command] = [
        line
        for line in page.replace("\\\n", " ").splitlines()
        if line.startswith("curl") and "/orders/cancel-stale" in line
    ]
    words = shlex.split(command)
    request = json.loads(words[words.index("-d") + 1])
    [cancelled, shown] = re.findall(r"```json\n(.*?)```", page, re.S)
    fake = FakeOPay(auto_create=True)  # as `opay-async simulate` serves it
    app = create_app(client_factory=lambda: fake.client(retry=NO_WAIT))
    with TestClient(app) as http:
        answer = http.post("/orders/SHOP-1/cancel", params={"country": "EG"})
        assert "curl -s -X POST 'http://127.0.0.1:8080/orders/SHOP-1/cancel?country=EG'" in page
        assert answer.json() == json.loads(cancelled)
        answer = http.post("/orders/cancel-stale", json=request)
        assert answer.status_code == 202
        job = finished(http, answer.json())
    assert {**job, "id": "JOB_ID"} == json.loads(shown)
