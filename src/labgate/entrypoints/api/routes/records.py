"""The evidence: the outbox, the audit trail, one sample's or batch's timeline, chain checks."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from labgate.adapters.store import lists, views
from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_reading import readable_entries, take_entries
from labgate.adapters.store.audit_store import snapshot, verify_stored
from labgate.compliance.access import Account, Permission
from labgate.compliance.signer import Signer
from labgate.domain.samples import Sample
from labgate.entrypoints.api.answers.records import AuditEntry, Timeline, TrailCheck
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.list_models import OutboxItem
from labgate.entrypoints.api.paging import Cursor, Page, decode_cursor, page_of
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import Offset
from labgate.entrypoints.api.scope import SiteScope

router = APIRouter(prefix="/api/v1", tags=["evidence"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Key = Annotated[str | None, Query(min_length=1, max_length=64)]
Order = Annotated[
    Literal["oldest", "newest"], Query(description="`newest` first to see what just happened.")
]


@router.get(
    "/outbox",
    summary="Messages owed to the MES and the LIMS",
    openapi_extra=refuses({422: ("page.cursor_invalid",)}),
)
def outbox(
    request: Request,
    site: Key = None,
    destination: Key = None,
    status: Literal["pending", "delivered", "dead", "held"] | None = None,
    order: Order = "oldest",
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


@router.get(
    "/audit",
    summary="Audit trail entries",
    openapi_extra=refuses({422: ("page.cursor_invalid",)}),
)
def audit(
    request: Request,
    site: str | None = None,
    record_type: str | None = None,
    record_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    correlation_id: str | None = None,
    from_at: Annotated[
        AwareDatetime | None, Query(description="Entries sealed at or after this time.")
    ] = None,
    to_at: Annotated[
        AwareDatetime | None, Query(description="Entries sealed before this time (exclusive).")
    ] = None,
    order: Order = "oldest",
    cursor: Cursor = None,
    limit: Limit = 100,
    _: Account = allowed(Permission.READ_AUDIT),
) -> Page[AuditEntry]:
    """Entries in chain order (oldest first, as they were sealed) or newest first, filtered by
    site, record, actor, action, correlation id (one trace, end to end) and time range
    (`from_at` inclusive, `to_at` exclusive); each with its time at its site and the actor's
    printed name."""
    kind = f"audit-{order}"
    after = decode_cursor(kind, cursor)
    query = views.audit_query(
        site, record_type, record_id, actor, action, correlation_id, from_at, to_at
    )
    with hub_of(request).sessions() as session:
        found = take_entries(session, query, after, limit, order)
        shown = lists.Slice(readable_entries(session, found.rows), found.last_id)
    return page_of(request, kind, shown, AuditEntry, limit)


@router.get("/audit/verify", summary="Verify the hash chain, its head and its checkpoints")
def audit_verify(request: Request, _: Account = allowed(Permission.READ_AUDIT)) -> TrailCheck:
    """Recompute every entry's hash and link, check the trail ends at its head and every signed
    checkpoint (against labgate's configured key, if any); name the first problem."""
    hub = hub_of(request)
    key = hub.settings.signing_key_file
    trusted = [Signer.from_file(key).public_jwk] if key is not None else []
    with snapshot(hub.sessions) as session:
        report = verify_stored(session, trusted)
    # A broken trail is a finding to report, not a refusal: answered 200 with `ok` false.
    return TrailCheck.model_validate(dataclasses.asdict(report) | {"ok": report.ok})


@router.get(
    "/sites/{site}/samples/{sample}/timeline",
    summary="One sample's whole history",
    dependencies=[SiteScope],
    openapi_extra=refuses({404: ("sample.unknown",)}),
)
def sample_timeline(
    request: Request,
    site: str,
    sample: str,
    limit: Limit = 500,
    offset: Offset = 0,
    _: Account = allowed(Permission.READ_AUDIT),
) -> Timeline:
    """Every audit entry about the sample and its results, in order, read at the site."""
    with hub_of(request).sessions() as session:
        found = views.get_sample(session, site, sample)
        extra = [found.mes_request_id] if found.mes_request_id else []
        extra += views.deviation_codes(session, site, sample=sample)
        return _timeline(session, views.timeline_query(site, [sample], extra), limit, offset)


@router.get(
    "/sites/{site}/batches/{batch}/timeline",
    summary="One batch's whole history",
    dependencies=[SiteScope],
    openapi_extra=refuses({404: ("batch.unknown",)}),
)
def batch_timeline(
    request: Request,
    site: str,
    batch: str,
    limit: Limit = 500,
    offset: Offset = 0,
    _: Account = allowed(Permission.READ_AUDIT),
) -> Timeline:
    """Every audit entry about the batch, its samples and their results, in order, read at the
    site."""
    with hub_of(request).sessions() as session:
        views.batch_view(session, site, batch)  # NotFound for an unknown batch
        samples = list(
            session.scalars(
                select(Sample).filter_by(site=site, batch=batch).order_by(t.samples.c.id)
            )
        )
        codes = [s.code for s in samples]
        extra = [batch] + [s.mes_request_id for s in samples if s.mes_request_id]
        extra += views.deviation_codes(session, site, batch=batch)
        return _timeline(session, views.timeline_query(site, codes, extra), limit, offset)


def _timeline(session: Session, query: Select[Any], limit: int, offset: int) -> Timeline:
    """One page of a timeline, its entries as people at the site read them."""
    found = views.page(session, query, limit, offset)
    return Timeline.model_validate(found | {"items": readable_entries(session, found["items"])})
