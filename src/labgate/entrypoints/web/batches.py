"""Batches: the board (the rows of GET /api/v1/sites/{site}/batches, the same query, with each
row's review by exception as GET .../batches/{batch}/review gives it), a batch's page (its
procedure, gates, samples and results, deviations, OOT alerts, EM excursions reaching it, review
findings, signatures, and whether its release and rejection would be taken now: the handlers'
own checks) and its CoA and dossier PDFs, built by the API's own document builders. The signed
actions are disposition.py's. The console holds no rule of its own."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.reports.certificate import certificate_document
from labgate.adapters.reports.dossier import dossier_document
from labgate.adapters.store import lists, views
from labgate.adapters.store import tables as t
from labgate.adapters.store.certificate_view import certificate
from labgate.adapters.store.document_facts import readable, reader
from labgate.adapters.store.dossier_view import batch_records, dossier, review, review_of
from labgate.adapters.store.gate_view import batch_gates
from labgate.adapters.store.review_signals import reaching
from labgate.adapters.store.uow import SqlUnitOfWork
from labgate.compliance.access import Permission
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.batch_surroundings import batch_surroundings
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.render import filtered_list, page, page_links, prefix
from labgate.service.handlers.batches import disposition_standing

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
Key = Annotated[str | None, Query(max_length=64)]
PAGE_SIZES = (25, 50, 100)
SAMPLES_SHOWN = 25  # a batch page's samples and results, a page at a time
# The API's order: newest batch first, by id (stable when a batch is added meanwhile).
SORT: lists.Direction = "newest"


@dataclass(frozen=True)
class BoardQuery:
    """What the visitor asked the board for: filters and page."""

    product: str | None
    on_hold: bool | None
    disposition: str | None
    ready: bool | None
    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """This view's query string with some values changed (empty and default ones left out)."""
        values = {**self.__dict__, **changed}
        for flag in ("on_hold", "ready"):
            value = values[flag]
            values[flag] = None if value is None else ("true" if value else "false")
        kept = {k: v for k, v in values.items() if v not in (None, "") and (k, v) != ("limit", 25)}
        return urlencode(kept)


def _products(session: Session, site: str) -> list[str]:
    b = t.batches.c
    query = select(b.product).distinct().where(b.site == site).order_by(b.product)
    return [str(p) for p in session.scalars(query)]


Reviews = dict[str, dict[str, Any]]


def _page(
    session: Session, site: str, asked: BoardQuery, now: datetime
) -> tuple[list[dict[str, Any]], Reviews, int | None]:
    """One page of the board: its rows, the id to continue after, and (with the ready filter)
    their reviews. With the ready filter the list's rows are read in its order and kept when
    the API's review by exception says what was asked, until the page is full (the console adds
    no rule of its own). Without it, each row's review is read by its own cell (readiness)."""
    query = lists.batches_query(site, asked.product, asked.on_hold, asked.disposition)
    after = keyset.decode(SORT, asked.cursor)
    last = None if after is None else after[1]
    rows: list[dict[str, Any]] = []
    reviews: Reviews = {}
    while True:
        found = lists.take(session, query, t.batches.c.id, last, asked.limit, SORT)
        for row in found.rows:
            item = lists.batch_item(dict(row))
            if asked.ready is not None:
                said = review(session, site, item["code"], now)
                if said["ready_by_exception"] is not asked.ready:
                    continue
                reviews[item["code"]] = said
            if len(rows) == asked.limit:  # one more row matches: there is a next page
                return rows, reviews, int(rows[-1]["id"])
            rows.append(item)
        if found.last_id is None or asked.ready is None:
            return rows, reviews, found.last_id
        last = found.last_id


Flag = Annotated[Literal["", "true", "false"] | None, Query()]


@router.get("/sites/{site}/batches", name="batch_board")
def batch_board(
    request: Request,
    site: str,
    who: Reading,
    product: Key = None,
    on_hold: Flag = None,
    disposition: Annotated[Literal["", "pending", "released", "rejected"] | None, Query()] = None,
    ready: Flag = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The board, or (for htmx) only its table."""
    shown = site_view(request, site)
    hold = None if not on_hold else on_hold == "true"
    is_ready = None if not ready else ready == "true"
    asked = BoardQuery(product or None, hold, disposition or None, is_ready, limit, cursor or None)
    hub = hub_of(request)
    now = hub.bus.deps.clock.now()
    with hub.sessions() as session:
        rows, reviews, last_id = _page(session, site, asked, now)
        products = _products(session, site)
        people = reader(session, site, [])
    here = f"{prefix(request)}/sites/{site}/batches"
    next_cursor = None if last_id is None else keyset.encode(SORT, None, last_id)
    values = {
        **frame(request, who, shown, "batches"),
        "rows": rows,
        "reviews": reviews,
        "asked": asked,
        "products": products,
        "page_sizes": PAGE_SIZES,
        "people": people,
        "here": here,
        **page_links(asked, here, next_cursor),
    }
    return filtered_list(request, "batches.html", "board", values, asked, here)


@router.get("/sites/{site}/batches/{batch}/readiness", name="batch_readiness")
def batch_readiness(request: Request, site: str, batch: str, who: Reading) -> Response:
    """A board row's review-by-exception cell, as GET .../batches/{batch}/review answers: read
    on its own, so the board costs what its rows cost, not each batch's whole review."""
    site_view(request, site)
    hub = hub_of(request)
    with hub.sessions() as session:
        found = review(session, site, batch, hub.bus.deps.clock.now())
    values = {"found": found, "batch_url": f"{prefix(request)}/sites/{site}/batches/{batch}"}
    return page(request, "_batch_readiness.html", values)


def batch_values(
    request: Request, who: Visitor, site: str, batch: str, samples_after: str | None = None
) -> dict[str, Any]:
    """Everything a batch's page shows, read in one session by the API's own views (the batch,
    its samples and signatures read once, for the page and its review by exception), one page
    of its samples (by code, after `samples_after`), and what its release and rejection would
    be refused with now (the handlers' own checks)."""
    shown = site_view(request, site)
    hub = hub_of(request)
    now = hub.bus.deps.clock.now()
    uow = hub.uow_factory()
    # The handlers' check reads the same samples: one unit of work, one load of them.
    with uow.reading():
        assert isinstance(uow, SqlUnitOfWork)
        session = uow.session
        check = disposition_standing(uow, site, batch, now)
        records = batch_records(session, site, batch)
        excursions = reaching(session, records.batch, now)
        view = readable(session, site, records.signed["batch"])
        every = records.samples  # by code
        later = [s for s in every if samples_after is None or s.code > samples_after]
        shown_views = views.sample_views(
            session, site, later[:SAMPLES_SHOWN], records.signed["results"]
        )
        samples = readable(session, site, shown_views)
        gates = batch_gates(session, site, batch)
        found = readable(session, site, review_of(session, records, excursions))
        surroundings = batch_surroundings(session, records.batch, excursions)
        people = reader(session, site, [])
    batch_url = f"{prefix(request)}/sites/{site}/batches/{batch}"
    return {
        **frame(request, who, shown, "batches"),
        "batch": view,
        "samples": samples,
        "samples_page": {
            "total": len(every),
            "first": len(every) - len(later) + 1,
            "next": f"{batch_url}?{urlencode({'samples_after': samples[-1]['code']})}#samples-h"
            if len(later) > SAMPLES_SHOWN
            else None,
            "start": f"{batch_url}#samples-h" if samples_after is not None else None,
        },
        "gates": gates["operations"],
        "review": found,
        **surroundings,
        "people": people,
        "release_refused": check.release,
        "rejection_refused": check.rejection,
        "blockers": check.blockers,
        "may_dispose": who.may(Permission.RELEASE_BATCH),
        "batch_url": batch_url,
        "refused": None,
        "done": None,
    }


@router.get("/sites/{site}/batches/{batch}", name="batch_page")
def batch_page(
    request: Request,
    site: str,
    batch: str,
    who: Reading,
    done: Literal["released", "rejected"] | None = None,
    samples_after: Key = None,
) -> Response:
    """One batch: what the API's batch, gates and review answers hold, as people read them;
    `done` after QA signed its disposition. Its samples a page at a time (SAMPLES_SHOWN)."""
    values = batch_values(request, who, site, batch, samples_after or None)
    values["done"] = done
    return page(request, "batch.html", values)


def _pdf(data: bytes, sha256: bytes, filename: str) -> Response:
    headers = {
        "Repr-Digest": f"sha-256=:{base64.b64encode(sha256).decode()}:",
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(data, media_type="application/pdf", headers=headers)


@router.get("/sites/{site}/batches/{batch}/coa.pdf", name="batch_coa")
def batch_coa(request: Request, site: str, batch: str, who: Reading) -> Response:
    """The CoA as GET .../batches/{batch}/coa gives it (409 page while it is incomplete)."""
    site_view(request, site)
    with hub_of(request).sessions() as session:
        content = certificate(session, site, batch)
    document = certificate_document(content, "pdf")
    return _pdf(document.data, document.sha256, document.filename)


@router.get("/sites/{site}/batches/{batch}/dossier.pdf", name="batch_dossier")
def batch_dossier(request: Request, site: str, batch: str, who: Reading) -> Response:
    """The batch dossier as GET .../batches/{batch}/dossier gives it."""
    site_view(request, site)
    with hub_of(request).sessions() as session:
        content = dossier(session, site, batch)
    document = dossier_document(content, "pdf")
    return _pdf(document.data, document.sha256, document.filename)
