"""The review queue: results awaiting review across batches. The rows are those of
GET /api/v1/sites/{site}/results/awaiting-review (the same query), filtered by product, batch,
test and analyst, sorted, a page at a time; the filters update the table in place through htmx,
and the table refreshes itself every 10 s with the same query (live.js holds it back while the
reviewer is using it). "Approve all without signals" starts from the page shown (bulk.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from labgate.adapters.store import lists
from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import reader
from labgate.compliance.access import Permission
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.render import filtered_list, is_htmx, page_links, prefix
from labgate.entrypoints.web.signals import page_signals

router = APIRouter()
r, s = t.results.c, t.samples.c
# The sorts a reviewer can choose; entered order is the key's own (oldest waits longest).
SORTS: dict[str, tuple[str, ColumnElement[Any] | None]] = {
    "oldest": ("Entered, oldest first", None),
    "newest": ("Entered, newest first", None),
    "batch": ("Batch", s.batch),
    "product": ("Product", s.product),
    "test": ("Test", r.test_code),
    "analyst": ("Analyst", r.analyst),
}
PAGE_SIZES = (25, 50, 100)
AGES = {1: "1 hour", 8: "8 hours", 24: "1 day", 72: "3 days", 168: "1 week"}
Key = Annotated[str | None, Query(max_length=64)]


@dataclass(frozen=True)
class QueueQuery:
    """What the reviewer asked for: filters, sort, page."""

    product: str | None
    batch: str | None
    test: str | None
    analyst: str | None
    min_age_hours: int | None
    sort: str
    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """The query string of this view with some values changed (empty and default ones
        left out)."""
        values = {**self.__dict__, **changed}
        defaults = {"sort": "oldest", "limit": 25}
        kept = {k: v for k, v in values.items() if v not in (None, "") and defaults.get(k) != v}
        return urlencode(kept)


def _choices(session: Session, site: str, column: ColumnElement[Any]) -> list[str]:
    """The values the queue holds in one column: what its filter offers."""
    queued = lists.awaiting_review_query(site, lists.ReviewFilter()).subquery()
    chosen = queued.c[column.name]
    query = select(chosen).distinct().where(chosen.is_not(None)).order_by(chosen)
    return [str(v) for v in session.scalars(query)]


Choices = dict[str, list[str]]
# Reading the filters' values scans the whole queue (four DISTINCTs: a third of the page's time
# at 5,000 results), so they are kept while no result arrives, for at most CHOICES_KEPT; a value
# that left the queue meanwhile only finds an empty table.
CHOICES_KEPT = 60.0


def filter_choices(request: Request, session: Session, site: str) -> Choices:
    """What each filter offers: the queue's products, batches, tests and analysts."""
    newest = session.scalar(select(func.max(r.id)))
    state = request.app.state
    if not hasattr(state, "review_choices"):
        state.review_choices = {}
    kept: dict[str, tuple[float, int | None, Choices]] = state.review_choices
    now = time.monotonic()
    found = kept.get(site)
    if found is not None and found[1] == newest and now - found[0] < CHOICES_KEPT:
        return found[2]
    columns = {"product": s.product, "batch": s.batch, "test": r.test_code, "analyst": r.analyst}
    choices = {name: _choices(session, site, column) for name, column in columns.items()}
    kept[site] = (now, newest, choices)
    return choices


def queue_page(
    session: Session, site: str, asked: QueueQuery, now: datetime
) -> tuple[lists.Slice, str | None]:
    """The rows of one page of the queue as asked, and the cursor of the next page."""
    # The age bound as GET .../results/awaiting-review?min_age_hours= computes it.
    hours = asked.min_age_hours
    before = None if hours is None else now - timedelta(hours=hours)
    where = lists.ReviewFilter(asked.product, asked.batch, asked.test, asked.analyst, before)
    query = lists.awaiting_review_query(site, where)
    column = SORTS[asked.sort][1]
    if column is None:
        direction: lists.Direction = "newest" if asked.sort == "newest" else "oldest"
        after = lists_cursor(asked)
        found = lists.take(session, query, r.id, after, asked.limit, direction)
        cursor = None if found.last_id is None else keyset.encode(asked.sort, None, found.last_id)
        return found, cursor
    found, value = keyset.take_sorted(
        session, query, column, r.id, keyset.decode(asked.sort, asked.cursor), asked.limit
    )
    cursor = None if found.last_id is None else keyset.encode(asked.sort, value, found.last_id)
    return found, cursor


def lists_cursor(asked: QueueQuery) -> int | None:
    """The id an entered-order page continues after."""
    after = keyset.decode(asked.sort, asked.cursor)
    return None if after is None else after[1]


def queue_query(
    product: Key = None,
    batch: Key = None,
    test: Key = None,
    analyst: Key = None,
    min_age_hours: Annotated[str | None, Query(max_length=6, pattern=r"^[0-9]*$")] = None,
    sort: Annotated[str, Query(max_length=16)] = "oldest",
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> QueueQuery:
    """The queue's view from the query string (the queue's own, and the bulk approval's)."""
    return QueueQuery(product or None, batch or None, test or None, analyst or None,
                      int(min_age_hours) if min_age_hours else None,
                      sort if sort in SORTS else "oldest",
                      limit, cursor or None)  # fmt: skip


Asked = Annotated[QueueQuery, Depends(queue_query)]


@router.get("/sites/{site}/review", name="review_queue")
def review_queue(
    request: Request,
    site: str,
    who: Annotated[Visitor, Depends(allowed(Permission.READ))],
    asked: Asked,
) -> Response:
    """The queue, or (for htmx) only its table."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        found, next_cursor = queue_page(session, site, asked, hub_of(request).bus.deps.clock.now())
        # The form is not in the table's block: htmx's updates need no choices.
        choices = {} if is_htmx(request) else filter_choices(request, session, site)
        analysts = choices.get("analyst", [])
        people = reader(session, site, [*analysts, *(row["analyst"] for row in found.rows)])
        signals = page_signals(session, site, found.rows, hub_of(request).bus.deps.clock.now())
    here = f"{prefix(request)}/sites/{site}/review"
    values = {
        **frame(request, who, shown, "review"),
        "rows": found.rows,
        "signals": signals,
        "asked": asked,
        "choices": choices,
        "sorts": {key: label for key, (label, _) in SORTS.items()},
        "page_sizes": PAGE_SIZES,
        "ages": AGES,
        "people": people,
        "here": here,
        "may_approve": who.may(Permission.APPROVE_RESULT),
        **page_links(asked, here, next_cursor),
    }
    return filtered_list(request, "review.html", "queue", values, asked, here)
