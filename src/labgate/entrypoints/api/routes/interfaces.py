"""The REST channel for signed envelopes, and the quarantine where refused messages wait."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Query, Request, Response
from pydantic import Field, StrictStr
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.adapters.store import views
from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.errors import NotFound
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.problems import problem, request_context
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import Body, Offset, RowId, SignatureIn, SignedAs
from labgate.service.inbox import ReceiptRefused
from labgate.service.quarantine import QuarantineDesk, Resolution

router = APIRouter(prefix="/api/v1", tags=["interfaces"])


@router.post(
    "/inbox",
    summary="Send a signed envelope (any message type)",
    responses={200: {"description": "applied"}, 202: {"description": "held for a gap"}},
)
async def receive(
    request: Request, response: Response, account: Account = allowed(Permission.SEND_MESSAGES)
) -> Any:
    """Checked in order (key, signature, schema, replay window, duplicate, sequence), then applied
    in one transaction with its inbox record; refusals are quarantined with their raw bytes."""

    raw = await request.body()
    hub = hub_of(request)
    try:
        receipt = await to_thread.run_sync(
            hub.inbox.receive, raw, "rest", account.username, limiter=inbox_turns(request)
        )
    except ReceiptRefused as refused:
        answer = problem(request, refused.status, refused.reason, refused.message, refused.field)
        answer.headers["X-Quarantine-Id"] = str(refused.quarantine_id)
        # used: taken in and refused by its use case, send the next; free: send this one again.
        answer.headers["X-Sequence"] = "used" if refused.number_used else "free"
        return answer
    response.status_code = 202 if receipt.status == "held" else 200
    return {"status": receipt.status, "message_id": receipt.message_id, "outcome": receipt.outcome}


def inbox_turns(request: Request) -> CapacityLimiter:
    """The threads the inbox route may use at once (`LABGATE_INBOX_CONCURRENCY`); its waiters
    are served first come, first served. Made on first use, inside the server's event loop."""
    state = request.app.state
    if not hasattr(state, "inbox_turns"):
        state.inbox_turns = CapacityLimiter(state.inbox_concurrency)
    limiter: CapacityLimiter = state.inbox_turns
    return limiter


class DecisionIn(Body):
    """An operator's decision on a quarantined message: a reason and an e-signature."""

    reason: StrictStr = Field(min_length=1, max_length=2000)
    signature: Annotated[SignatureIn, SignedAs(SignedAction.RESOLVE_QUARANTINE)]


@router.post("/quarantine/{item}/{decision}", summary="Reprocess or discard, e-signed")
async def resolve(
    request: Request,
    item: RowId,
    decision: Literal["reprocess", "discard"],
    body: DecisionIn,
    _: Account = allowed(Permission.MANAGE_QUARANTINE),
) -> dict[str, Any]:
    """Reprocessing starts from the original raw bytes; discarding keeps them on record."""
    desk = QuarantineDesk(hub_of(request).inbox)
    resolution = Resolution(
        await request_context(request), item, body.reason, body.signature.to_input()
    )
    if decision == "discard":
        await run_in_threadpool(desk.discard, resolution)
        return {"item": item, "status": "discarded"}
    return {
        "item": item,
        "status": "reprocessed",
        "outcome": await run_in_threadpool(desk.reprocess, resolution),
    }


@router.get("/quarantine", summary="Quarantined messages, newest first")
def list_quarantine(
    request: Request, status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0,
    _: Account = allowed(Permission.READ_QUARANTINE),
) -> dict[str, Any]:  # fmt: skip
    """Reason code, channel, source and hash of every refused message."""
    q = t.quarantine.c
    query = select(q.id, q.received_at, q.channel, q.source, q.message_id, q.sha256,
                   q.reason_code, q.field, q.detail, q.status).order_by(q.id.desc())  # fmt: skip
    if status:
        query = query.where(q.status == status)
    with hub_of(request).sessions() as session:
        return views.page(session, query, limit, offset)


@router.get("/quarantine/{item}", summary="One quarantined message, raw bytes included")
def get_quarantine(
    request: Request, item: RowId, _: Account = allowed(Permission.READ_QUARANTINE)
) -> dict[str, Any]:
    """The raw bytes as received (base64, and as text when they are UTF-8)."""
    with hub_of(request).sessions() as session:
        row = session.execute(select(t.quarantine).where(t.quarantine.c.id == item)).mappings()
        found = row.one_or_none()
        if found is None:
            raise NotFound(f"No quarantined message {item}.", reason="quarantine.unknown",
                           field="item")  # fmt: skip
        shown: dict[str, Any] = to_jsonable({k: v for k, v in found.items() if k != "raw"})
    raw: bytes = found["raw"]
    shown["raw_base64"] = base64.b64encode(raw).decode()
    try:
        shown["raw_text"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        shown["raw_text"] = None
    return shown
