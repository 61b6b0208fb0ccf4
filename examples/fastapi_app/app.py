"""A FastAPI service cancelling OPay payments, one on request or many in the background.

Run it with ``uvicorn examples.fastapi_app.app:app`` and the ``OPAY_*`` environment
variables set (or ``OPAY_BASE_URL`` pointing at ``opay-async simulate``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, status
from pydantic import BaseModel, Field

from opay_async import (
    CloseOutcome,
    InvalidRequestError,
    OPayClient,
    OPayConnectionError,
    OPayError,
    OPayHTTPError,
    OPayResponseError,
    OPayValidationError,
    PaymentNotFoundError,
    ServiceUnavailableError,
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


class Job(BaseModel):
    id: str
    state: Literal["running", "done", "failed", "cancelled"] = "running"
    total: int
    done: int = 0
    closed: int = 0
    failed: int = 0
    errors: dict[str, int] = Field(default_factory=dict)


# --8<-- [start:dependency]
def get_opay(request: Request) -> OPayClient:
    """The application's one OPayClient (made in the lifespan), as a dependency."""
    opay: OPayClient = request.app.state.opay
    return opay


Opay = Annotated[OPayClient, Depends(get_opay)]
# --8<-- [end:dependency]


# --8<-- [start:errors]
def _status_for(error: OPayError) -> int:
    """The HTTP status this service answers for an SDK error."""
    if isinstance(error, PaymentNotFoundError):
        return status.HTTP_404_NOT_FOUND
    if isinstance(error, OPayValidationError | InvalidRequestError):
        return status.HTTP_422_UNPROCESSABLE_CONTENT
    if isinstance(error, ServiceUnavailableError | OPayConnectionError):
        return status.HTTP_503_SERVICE_UNAVAILABLE
    if isinstance(error, OPayResponseError | OPayHTTPError):
        return status.HTTP_502_BAD_GATEWAY
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
        def count(outcome: CloseOutcome) -> None:
            job.done += 1
            if outcome.ok:
                job.closed += 1
            else:
                code = getattr(outcome.error, "code", type(outcome.error).__name__)
                job.errors[code] = job.errors.get(code, 0) + 1
                job.failed += 1

        try:
            await opay.close_many(
                orders.references,
                country=orders.country,
                concurrency=orders.concurrency,
                on_progress=count,
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
