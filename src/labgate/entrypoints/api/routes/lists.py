"""Lists to start one's work from: sites, batches, and the results waiting for review."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from labgate.adapters.store import lists
from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import readable
from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.entrypoints.api.answers.batches import BatchItem, SiteItem, SiteList
from labgate.entrypoints.api.answers.samples import ReviewItem
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.paging import Cursor, Page, PageLimit, decode_cursor, page_of
from labgate.entrypoints.api.routes import lab_refusals as no
from labgate.entrypoints.api.routes.lab import allowed, listed
from labgate.entrypoints.api.scope import SiteScope

router = APIRouter(prefix="/api/v1", tags=["lists"])
Key = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get("/sites", summary="The sites the caller can see")
def sites(request: Request, _: Account = allowed(Permission.READ)) -> SiteList:
    """Every site in master data, by code: access is granted per role, not per site."""
    with hub_of(request).sessions() as session:
        rows = session.execute(lists.sites_query()).mappings()
        return SiteList(items=[SiteItem.model_validate(dict(r)) for r in rows])


@router.get(
    "/sites/{site}/batches",
    summary="Batches, newest first",
    dependencies=[SiteScope],
    openapi_extra=refuses(no.PAGED),
)
def batches(
    request: Request,
    site: str,
    product: Key = None,
    on_hold: bool | None = None,
    disposition: Literal["pending", "released", "rejected"] | None = None,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[BatchItem]:
    """Filter by product, hold (an open deviation on the batch) and QA disposition; the
    review by exception of one batch is `GET .../batches/{batch}/review`."""
    after = decode_cursor("batches", cursor)
    query = lists.batches_query(site, product, on_hold, disposition)
    with hub_of(request).sessions() as session:
        found = lists.take(session, query, t.batches.c.id, after, limit, "newest")
    found = lists.Slice([lists.batch_item(r) for r in found.rows], found.last_id)
    return page_of(request, "batches", listed(found), BatchItem, limit)


@router.get(
    "/sites/{site}/results/awaiting-review",
    summary="Preliminary results waiting for review, oldest first",
    dependencies=[SiteScope],
    openapi_extra=refuses(no.PAGED),
)
def awaiting_review(
    request: Request,
    site: str,
    product: Key = None,
    batch: Key = None,
    test_code: Key = None,
    analyst: Key = None,
    min_age_hours: Annotated[
        int | None, Query(ge=0, le=876_000, description="Entered at least this many hours ago.")
    ] = None,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[ReviewItem]:
    """Across batches, in the order they were entered: the longest waiting comes first."""
    after = decode_cursor("awaiting-review", cursor)
    hub = hub_of(request)
    entered_before = None
    if min_age_hours is not None:
        entered_before = hub.bus.deps.clock.now() - timedelta(hours=min_age_hours)
    where = lists.ReviewFilter(product, batch, test_code, analyst, entered_before)
    query = lists.awaiting_review_query(site, where)
    with hub.sessions() as session:
        found = lists.take(session, query, t.results.c.id, after, limit, "oldest")
        found = lists.Slice(_readable_rows(session, site, listed(found).rows), found.last_id)
    return page_of(request, "awaiting-review", found, ReviewItem, limit)


def _readable_rows(session: Session, site: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with the analyst's printed name and the entry time in the site's zone beside.
    Only the added members are taken from the readable form: the row's own values stay the
    values the list has always answered with."""
    shown = readable(session, site, [to_jsonable(row) for row in rows])
    return [{**seen, **row} for seen, row in zip(shown, rows, strict=True)]
