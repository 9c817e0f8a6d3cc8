"""Liveness and readiness for load balancers and orchestrators: no credentials, nothing audited."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store.migrate import current_revision, head_revision
from labgate.entrypoints.api.answers.interfaces import ProbeStatus
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.problems import problem

router = APIRouter(tags=["health"])
# A balancer polls every few seconds; a probe that hangs longer than this is a broker not ready.
BROKER_TIMEOUT_SECONDS = 3.0
NOT_READY_REASONS = (
    "ready.broker_unreachable",
    "ready.database_unreachable",
    "ready.schema_behind",
)
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "Not ready: the problem names what in `reason` and `field`. Reason "
        f"codes: {', '.join(f'`{code}`' for code in NOT_READY_REASONS)}.",
        "content": {
            "application/problem+json": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {
                            "type": "object",
                            "properties": {"reason": {"enum": list(NOT_READY_REASONS)}},
                        },
                    ]
                }
            }
        },
    }
}


class NotReady(Exception):
    """One dependency the process cannot serve without."""

    def __init__(self, reason: str, field: str, detail: str):
        super().__init__(detail)
        self.reason, self.field, self.detail = reason, field, detail


@router.get("/health", summary="The process is up (liveness)", response_model=ProbeStatus)
def health() -> ProbeStatus:
    """Answers 200 while the process can answer at all; it checks nothing else on purpose, so an
    orchestrator does not restart a process for a database outage it cannot fix."""
    return ProbeStatus(status="up")


@router.get(
    "/ready", summary="Ready to serve (readiness)", response_model=ProbeStatus, responses=NOT_READY
)
async def ready(request: Request) -> ProbeStatus | JSONResponse:
    """200 when the database answers, its schema is current and, when configured, the broker
    accepts a connection; 503 problem+json naming the first that is not."""
    hub = hub_of(request)
    checks: dict[str, str] = {}
    try:
        checks["database"] = await run_in_threadpool(_database, hub.engine)
        if hub.settings.amqp_url is not None:
            checks["broker"] = await _broker(hub.settings.amqp_url.get_secret_value())
    except NotReady as fault:
        # Not a refusal of the caller but a state of this process: a poll every few seconds
        # must not fill the audit trail, so it is answered without auditing.
        return problem(request, 503, fault.reason, fault.detail, fault.field)
    return ProbeStatus(status="ready", checks=checks)


def _database(engine: Any) -> str:
    """The schema revision, when the database answers and is at this labgate's head."""
    try:
        current = current_revision(engine)
    except SQLAlchemyError as error:
        raise NotReady(
            "ready.database_unreachable",
            "database",
            f"The database cannot be reached ({type(error).__name__}); check that it runs and "
            "that LABGATE_DATABASE_URL names it.",
        ) from error
    head = head_revision()
    if current != head:
        raise NotReady(
            "ready.schema_behind",
            "database",
            f"The database schema is at {current or 'nothing (empty database)'} but this "
            f"labgate needs {head}. Run `labgate db upgrade`.",
        )
    return f"schema {head}"


async def _broker(url: str) -> str:
    """Open and close one AMQP connection within the probe's time."""
    import aio_pika  # only deployments with a broker pay for importing the AMQP client

    try:
        connection = await asyncio.wait_for(
            aio_pika.connect(url, timeout=BROKER_TIMEOUT_SECONDS), BROKER_TIMEOUT_SECONDS + 1
        )
    except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as error:
        raise NotReady(
            "ready.broker_unreachable",
            "amqp_url",
            f"The AMQP broker named by LABGATE_AMQP_URL does not accept a connection "
            f"({type(error).__name__}); check that it runs and the URL's credentials.",
        ) from error
    await connection.close()
    return "reachable"
