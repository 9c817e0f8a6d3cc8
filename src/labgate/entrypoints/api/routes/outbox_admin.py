"""Delivery of the outbox, for operators: dead letters, each message's attempts, and the retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StrictStr
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import views
from labgate.adapters.store.outbox_store import (
    SqlOutboxStore,
    attempts_view,
    dead_query,
    held_query,
)
from labgate.compliance.access import Account, Permission
from labgate.entrypoints.api.answers.interfaces import DeliveryHistory, OutboxPage, Requeued
from labgate.entrypoints.api.auth import hub_of, require
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.schemas import Body, Offset
from labgate.service.outbox.relay import retry_dead

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox delivery"])
Limit = Annotated[int, Query(ge=1, le=1000)]
MessageId = Annotated[StrictStr, Field(min_length=1, max_length=36)]


class RetryIn(Body):
    """Dead-lettered messages to deliver again, and why."""

    message_ids: list[MessageId] = Field(min_length=1, max_length=100)
    reason: StrictStr = Field(min_length=1, max_length=2000)


@router.get("/dead", summary="Dead-lettered messages, oldest first")
def dead_letters(
    request: Request,
    site: str | None = None,
    destination: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    _: Account = Depends(require(Permission.READ_OUTBOX)),
) -> OutboxPage:
    """Messages the relay gave up on after its last attempt; each waits for an operator."""
    with hub_of(request).sessions() as session:
        return OutboxPage.model_validate(
            views.page(session, dead_query(site, destination), limit, offset)
        )


@router.get("/held", summary="Messages held: changed after commit, never sent")
def held(
    request: Request,
    site: str | None = None,
    destination: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    _: Account = Depends(require(Permission.READ_OUTBOX)),
) -> OutboxPage:
    """Messages whose content no longer matched the seal recorded at commit; `last_error`
    names the reason code (`outbox.seal_broken`, `outbox.seal_missing`). No retry sends them."""
    with hub_of(request).sessions() as session:
        return OutboxPage.model_validate(
            views.page(session, held_query(site, destination), limit, offset)
        )


@router.get(
    "/{message_id}/attempts",
    summary="One message's delivery attempts",
    openapi_extra=refuses({404: ("outbox.unknown",)}),
)
def attempts(
    request: Request,
    message_id: str,
    _: Account = Depends(require(Permission.READ_OUTBOX)),
) -> DeliveryHistory:
    """The message's delivery state and every attempt: its outcome and the receiver's answer."""
    with hub_of(request).sessions() as session:
        return DeliveryHistory.model_validate(attempts_view(session, message_id))


@router.post(
    "/retry",
    summary="Deliver dead-lettered messages again",
    openapi_extra=refuses(
        {
            404: ("outbox.unknown",),
            # Held (changed after commit) is never sent; any other state is not dead-lettered.
            409: ("lifecycle.invalid_transition", "outbox.seal_broken"),
            422: ("outbox.reason_required",),
        }
    ),
)
async def retry(
    request: Request,
    body: RetryIn,
    _: Account = Depends(require(Permission.RETRY_DELIVERY)),
) -> Requeued:
    """All or none: every message must be dead-lettered; each gets a fresh round of attempts,
    audited `outbox.retry` with the reason."""
    hub, ctx = hub_of(request), await request_context(request)
    store = SqlOutboxStore(hub.sessions)
    requeued = await run_in_threadpool(
        retry_dead, store, hub.bus.deps.clock, ctx, body.message_ids, body.reason
    )
    return Requeued(requeued=requeued, reason=body.reason)
