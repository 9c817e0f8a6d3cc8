"""The quarantine desk: refused messages by reason code, source, channel and status, one page at
a time (GET /api/v1/quarantine's query and order); one message with its raw bytes as received
(escaped, never rendered); and its reprocessing or discarding with a reason and an e-signature,
through the very service POST /api/v1/quarantine/{item}/{decision} calls."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.adapters.store.lists import take
from labgate.compliance.access import Permission
from labgate.compliance.canonical import content_hash
from labgate.compliance.signatures import Meaning
from labgate.domain.commands import SignatureInput
from labgate.domain.errors import LabgateError, NotFound
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.desk_common import desk_frame, desk_url
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import filtered_list, page, page_links
from labgate.service.inbox.quarantine import QuarantineDesk, Resolution

router = APIRouter()
q, g, a, m = t.quarantine.c, t.signatures.c, t.audit_entries.c, t.inbox_messages.c
Reading = Annotated[Visitor, Depends(allowed(Permission.READ_QUARANTINE))]
Managing = Annotated[Visitor, Depends(allowed(Permission.MANAGE_QUARANTINE))]
Key = Annotated[str | None, Query(max_length=64)]
SORT = "quarantine"  # newest first, by id: the API's order
LISTED = (q.id, q.received_at, q.channel, q.source, q.message_id, q.sha256, q.reason_code,
          q.field, q.detail, q.status)  # fmt: skip


@dataclass(frozen=True)
class QuarantineQuery:
    """What the visitor asked the list for: filters and page."""

    status: str
    reason: str | None
    source: str | None
    channel: str | None
    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """This view's query string with some values changed (empty and default ones left out)."""
        values = {**self.__dict__, **changed}
        defaults = {("limit", 25), ("status", "open")}
        kept = {k: v for k, v in values.items() if v not in (None, "") and (k, v) not in defaults}
        return urlencode(kept)


def _listed(session: Session, asked: QuarantineQuery) -> tuple[list[dict[str, Any]], int | None]:
    query = select(*LISTED)
    for column, value in ((q.status, None if asked.status == "any" else asked.status),
                          (q.reason_code, asked.reason), (q.source, asked.source),
                          (q.channel, asked.channel)):  # fmt: skip
        if value:
            query = query.where(column == value)
    after = keyset.decode(SORT, asked.cursor)
    found = take(session, query, q.id, None if after is None else after[1], asked.limit, "newest")
    return found.rows, found.last_id


@router.get("/sites/{site}/desk/quarantine", name="desk_quarantine")
def quarantine_list(
    request: Request,
    site: str,
    who: Reading,
    status: Literal["open", "reprocessed", "discarded", "any"] = "open",
    reason: Key = None,
    source: Key = None,
    channel: Key = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """Quarantined messages, newest first; htmx gets only the table."""
    asked = QuarantineQuery(status, reason or None, source or None, channel or None, limit,
                            cursor or None)  # fmt: skip
    values = desk_frame(request, who, site, "quarantine")
    with hub_of(request).sessions() as session:
        rows, last_id = _listed(session, asked)
    here = f"{values['desk']}/quarantine"
    next_cursor = None if last_id is None else keyset.encode(SORT, None, last_id)
    values |= {"rows": rows, "asked": asked, "here": here, **page_links(asked, here, next_cursor)}
    return filtered_list(request, "desk_quarantine.html", "queue", values, asked, here)


def _item(session: Session, item: int) -> dict[str, Any]:
    found = session.execute(select(t.quarantine).where(q.id == item)).mappings().one_or_none()
    if found is None:
        raise NotFound(f"No quarantined message {item}.", reason="quarantine.unknown",
                       field="item")  # fmt: skip
    row = dict(found)
    raw: bytes = row.pop("raw")
    try:
        row["raw_text"], row["raw_base64"] = raw.decode("utf-8"), None
    except UnicodeDecodeError:
        row["raw_text"], row["raw_base64"] = None, base64.b64encode(raw).decode()
    row["raw_size"] = len(raw)
    return row


def _signatures(session: Session, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The resolution's signature, and whether it still matches the item as it is now (the
    content the desk signs: item, raw bytes' hash, decision)."""
    now = content_hash({"item": row["id"], "sha256": row["sha256"], "decision": row["status"]})
    query = select(t.signatures).where(g.record_type == "quarantine", g.record_id == str(row["id"]))
    return [
        {**dict(s), "matches": s["content_hash"] == now}
        for s in session.execute(query.order_by(g.signed_at, g.id)).mappings()
    ]


def _inbox(session: Session, row: dict[str, Any]) -> dict[str, Any] | None:
    """The message as the inbox holds it now (applied after reprocessing, say)."""
    if not row["source"] or not row["message_id"]:
        return None
    query = select(m.stream, m.sequence, m.status, m.received_at, m.applied_at).where(
        m.source == row["source"], m.message_id == row["message_id"]
    )
    found = session.execute(query).mappings().first()
    return None if found is None else dict(found)


def item_values(request: Request, who: Visitor, site: str, item: int) -> dict[str, Any]:
    """Everything the item's page shows, read in one session."""
    with hub_of(request).sessions() as session:
        row = _item(session, item)
        signatures = _signatures(session, row)
        trail_query = select(t.audit_entries).where(
            a.record_type == "quarantine", a.record_id == str(item)
        )
        trail = [dict(e) for e in session.execute(trail_query.order_by(a.seq)).mappings()]
        inbox = _inbox(session, row)
    users = [row["resolved_by"], *(e["actor"] for e in trail), *(s["signer"] for s in signatures)]
    values = desk_frame(request, who, site, "quarantine", users)
    return values | {
        "item": row,
        "signatures": signatures,
        "trail": trail,
        "inbox": inbox,
        "here": f"{values['desk']}/quarantine/{item}",
        "may_resolve": who.may(Permission.MANAGE_QUARANTINE) and row["status"] == "open",
        "meaning": Meaning.APPROVED.value,
        "refused": None,
        "done": None,
    }


@router.get("/sites/{site}/desk/quarantine/{item}", name="desk_quarantine_item")
def quarantine_item(
    request: Request,
    site: str,
    item: int,
    who: Reading,
    done: Literal["reprocessed", "discarded"] | None = None,
) -> Response:
    """One message: why it was refused, its raw bytes, what was decided and by whom."""
    values = item_values(request, who, site, item)
    values["done"] = done
    return page(request, "desk_quarantine_item.html", values)


async def _resolve(request: Request, who: Visitor, site: str, item: int, decision: str) -> Response:
    form = await posted_form(request, who)
    signature = SignatureInput(
        form.get("username", ""), form.get("password", ""), Meaning.APPROVED.value
    )
    ctx = context(request, who.account.username)
    resolution = Resolution(ctx, item, form.get("reason", ""), signature)
    desk = QuarantineDesk(hub_of(request).inbox)
    work = desk.discard if decision == "discarded" else desk.reprocess
    try:
        await run_in_threadpool(work, resolution)
    except LabgateError as error:
        await audit(request, error)
        values = await run_in_threadpool(item_values, request, who, site, item)
        values["refused"] = error
        return page(request, "desk_quarantine_item.html", values, status=http_status(error))
    # Post/redirect/get: reloading the page afterwards does not send the signature again.
    here = f"{desk_url(request, site)}/quarantine/{item}?done={decision}"
    return RedirectResponse(here, status_code=303)


@router.post("/sites/{site}/desk/quarantine/{item}/reprocess", name="desk_quarantine_reprocess")
async def reprocess(request: Request, site: str, item: int, who: Managing) -> Response:
    """Run the original raw bytes again, e-signed (meaning: approved)."""
    return await _resolve(request, who, site, item, "reprocessed")


@router.post("/sites/{site}/desk/quarantine/{item}/discard", name="desk_quarantine_discard")
async def discard(request: Request, site: str, item: int, who: Managing) -> Response:
    """Close the item for good, its raw bytes kept, e-signed (meaning: approved)."""
    return await _resolve(request, who, site, item, "discarded")
