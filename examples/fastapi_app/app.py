"""A FastAPI service cancelling OPay payments, one on request or many in the background.

Run it with ``uvicorn examples.fastapi_app.app:app`` and the ``OPAY_*`` environment
variables set (or ``OPAY_BASE_URL`` pointing at ``opay-async simulate``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Final, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, status
from pydantic import BaseModel, Field

from opay_async import (
    CloseOutcome,
    InvalidRequestError,
    OPayClient,
    OPayError,
    OPayValidationError,
    PaymentAlreadyPaidError,
    PaymentNotClosedError,
    PaymentNotFoundError,
)

ClientFactory = Callable[[], OPayClient]


class CancelledPayment(BaseModel):
    reference: str | None
    order_no: str | None
    country: str
    order_status: str
    amount_total: int | None = None
    currency: str | None = None


class StaleOrders(BaseModel):
    references: list[str] = Field(min_length=1, max_length=100_000)
    country: str = Field(min_length=2, max_length=2)
    concurrency: int = Field(default=10, ge=1, le=100)


#: How many failed and paid references a job lists (it counts them all).
LISTED: Final = 100


class Failure(BaseModel):
    reference: str | None
    error_type: str
    error_code: str | None
    error: str
    retryable: bool


class Job(BaseModel):
    """A bulk cancellation: counts, and the references an operator must act on.

    ``errors`` counts the outcomes that were not closed by the error's class name
    (``PaymentNotFoundError``, ``OPayValidationError``...); OPay's code, when there is
    one, is in each entry of ``failures``. ``paid`` lists payments the customer paid
    meanwhile: they need a refund, not a retry, and their orders must not be marked
    cancelled. ``failures`` lists the others that were not closed, with why; both lists
    stop at ``LISTED`` entries (the counts go on).
    """

    id: str
    state: Literal["running", "done", "failed", "cancelled"] = "running"
    total: int
    done: int = 0
    closed: int = 0
    paid_count: int = 0
    failed: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    paid: list[str] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)

    def count(self, outcome: CloseOutcome) -> None:
        """Take one outcome into the report."""
        self.done += 1
        record = outcome.to_record()
        if record["ok"]:
            self.closed += 1
            return
        kind = record["error_type"] or "OPayError"  # one kind of key: the error's class
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if isinstance(outcome.error, PaymentAlreadyPaidError):
            self.paid_count += 1
            if len(self.paid) < LISTED and record["reference"]:
                self.paid.append(record["reference"])
            return
        self.failed += 1
        if len(self.failures) < LISTED:
            self.failures.append(
                Failure(
                    reference=record["reference"],
                    error_type=record["error_type"] or "",
                    error_code=record["error_code"],
                    error=record["error"] or "",
                    retryable=bool(record["retryable"]),
                )
            )


# --8<-- [start:dependency]
def get_opay(request: Request) -> OPayClient:
    """The application's one OPayClient (made in the lifespan), as a dependency."""
    opay: OPayClient = request.app.state.opay
    return opay


Opay = Annotated[OPayClient, Depends(get_opay)]
# --8<-- [end:dependency]


# --8<-- [start:errors]
#: What this service answers for an error the SDK gives up on (the first match wins).
STATUS_FOR: Final[tuple[tuple[type[OPayError], int], ...]] = (
    (PaymentNotFoundError, status.HTTP_404_NOT_FOUND),
    # Paid meanwhile: refund it, and do not mark the order cancelled.
    (PaymentAlreadyPaidError, status.HTTP_409_CONFLICT),
    (PaymentNotClosedError, status.HTTP_409_CONFLICT),  # e.g. FAIL: nothing to close
    (OPayValidationError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidRequestError, status.HTTP_422_UNPROCESSABLE_CONTENT),
)


def _status_for(error: OPayError) -> int:
    """The HTTP status this service answers for an SDK error."""
    if error.retryable:  # OPay or the network failed for now (the SDK already retried)
        return status.HTTP_503_SERVICE_UNAVAILABLE
    for kind, code in STATUS_FOR:
        if isinstance(error, kind):
            return code
    return status.HTTP_502_BAD_GATEWAY  # OPay refused us (credentials, configuration)


# --8<-- [end:errors]


def create_app(client_factory: ClientFactory = OPayClient.from_env) -> FastAPI:
    """Build the service; ``client_factory`` makes the one OPayClient it uses."""
    jobs: dict[str, Job] = {}
    tasks: set[asyncio.Task[None]] = set()

    # --8<-- [start:lifespan]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client_factory() as opay:
            app.state.opay = opay
            yield
            for task in tasks:  # stop background jobs before the client closes
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(title="Order cancellation", lifespan=lifespan)
    # --8<-- [end:lifespan]

    # --8<-- [start:endpoints]
    @app.post("/orders/{reference}/cancel")
    async def cancel_order(reference: str, opay: Opay, country: str = "EG") -> CancelledPayment:
        try:
            payment = await opay.close_payment(reference=reference, country=country)
        except OPayError as error:
            raise HTTPException(_status_for(error), detail=str(error)) from None
        return CancelledPayment(
            reference=payment.reference,
            order_no=payment.order_no,
            country=payment.country,
            order_status=payment.raw_order_status,
            amount_total=payment.amount.total if payment.amount else None,
            currency=payment.amount.currency if payment.amount else None,
        )

    async def run_job(job: Job, orders: StaleOrders, opay: OPayClient) -> None:
        try:
            await opay.close_many(
                orders.references,
                country=orders.country,
                concurrency=orders.concurrency,
                on_progress=job.count,
            )
        except asyncio.CancelledError:
            job.state = "cancelled"
            raise
        except Exception:
            job.state = "failed"
            raise
        job.state = "done"

    @app.post("/orders/cancel-stale", status_code=status.HTTP_202_ACCEPTED)
    async def cancel_stale(orders: StaleOrders, opay: Opay) -> Job:
        job = Job(id=uuid.uuid4().hex, total=len(orders.references))
        jobs[job.id] = job
        task = asyncio.create_task(run_job(job, orders, opay))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return job

    @app.get("/jobs/{job_id}")
    async def get_job(job_id: str) -> Job:
        if job_id not in jobs:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such job")
        return jobs[job_id]

    # --8<-- [end:endpoints]
    return app


app = create_app()
