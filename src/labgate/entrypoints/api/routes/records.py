"""The evidence: the outbox, the audit trail, one sample's or batch's timeline, chain checks."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from labgate.adapters.store import lists, views
from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_store import snapshot, verify_stored
from labgate.compliance.access import Account, Permission
from labgate.compliance.signer import Signer
from labgate.domain.samples import Sample
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.list_models import OutboxItem
from labgate.entrypoints.api.paging import Cursor, Page, decode_cursor, page_of
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import Offset
from labgate.entrypoints.api.scope import SiteScope

router = APIRouter(prefix="/api/v1", tags=["evidence"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Key = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get("/outbox", summary="Messages owed to the MES and the LIMS")
def outbox(
    request: Request,
    site: Key = None,
    destination: Key = None,
    status: Literal["pending", "delivered", "dead", "held"] | None = None,
    order: Annotated[
        Literal["oldest", "newest"], Query(description="`newest` first to see what just happened.")
    ] = "oldest",
    cursor: Cursor = None,
    limit: Limit = 100,
    _: Account = allowed(Permission.READ_OUTBOX),
) -> Page[OutboxItem]:
    """In the order they were written (oldest first, as the relay sends them) or newest first,
    filtered by site, destination and delivery status."""
    after = decode_cursor(f"outbox-{order}", cursor)
    query = lists.outbox_query(site, destination, status)
    with hub_of(request).sessions() as session:
        found = lists.take(session, query, t.outbox.c.id, after, limit, order)
    return page_of(request, f"outbox-{order}", found, OutboxItem, limit)


@router.get("/audit", summary="Audit trail entries")
def audit(
    request: Request,
    site: str | None = None,
    record_type: str | None = None,
    record_id: str | None = None,
    actor: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    _: Account = allowed(Permission.READ_AUDIT),
) -> dict[str, Any]:
    """Entries in chain order, filtered."""
    query = views.audit_query(site, record_type, record_id, actor)
    with hub_of(request).sessions() as session:
        return views.page(session, query, limit, offset)


@router.get("/audit/verify", summary="Verify the hash chain, its head and its checkpoints")
def audit_verify(request: Request, _: Account = allowed(Permission.READ_AUDIT)) -> dict[str, Any]:
    """Recompute every entry's hash and link, check the trail ends at its head and every signed
    checkpoint (against labgate's configured key, if any); name the first problem."""
    hub = hub_of(request)
    key = hub.settings.signing_key_file
    trusted = [Signer.from_file(key).public_jwk] if key is not None else []
    with snapshot(hub.sessions) as session:
        report = verify_stored(session, trusted)
    return dataclasses.asdict(report) | {"ok": report.ok}


@router.get(
    "/sites/{site}/samples/{sample}/timeline",
    summary="One sample's whole history",
    dependencies=[SiteScope],
)
def sample_timeline(
    request: Request,
    site: str,
    sample: str,
    limit: Limit = 500,
    offset: Offset = 0,
    _: Account = allowed(Permission.READ_AUDIT),
) -> dict[str, Any]:
    """Every audit entry about the sample and its results, in order."""
    with hub_of(request).sessions() as session:
        found = views.get_sample(session, site, sample)
        extra = [found.mes_request_id] if found.mes_request_id else []
        extra += views.deviation_codes(session, site, sample=sample)
        return views.page(session, views.timeline_query(site, [sample], extra), limit, offset)


@router.get(
    "/sites/{site}/batches/{batch}/timeline",
    summary="One batch's whole history",
    dependencies=[SiteScope],
)
def batch_timeline(
    request: Request,
    site: str,
    batch: str,
    limit: Limit = 500,
    offset: Offset = 0,
    _: Account = allowed(Permission.READ_AUDIT),
) -> dict[str, Any]:
    """Every audit entry about the batch, its samples and their results, in order."""
    with hub_of(request).sessions() as session:
        views.batch_view(session, site, batch)  # NotFound for an unknown batch
        samples = list(session.scalars(select(Sample).filter_by(site=site, batch=batch)))
        codes = [s.code for s in samples]
        extra = [batch] + [s.mes_request_id for s in samples if s.mes_request_id]
        extra += views.deviation_codes(session, site, batch=batch)
        return views.page(session, views.timeline_query(site, codes, extra), limit, offset)
