"""Lists to find one's work: keyset pages over the store, stable while rows are inserted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.domain.deviations import OPEN_STATES
from labgate.domain.lifecycle import ResultStatus, SampleStatus

Direction = Literal["newest", "oldest"]


@dataclass(frozen=True)
class Slice:
    """One page of rows and the id to continue after, None on the last page."""

    rows: list[dict[str, Any]]
    last_id: int | None


def take(
    session: Session,
    query: Select[Any],
    key: ColumnElement[Any],
    after: int | None,
    limit: int,
    direction: Direction,
) -> Slice:
    """Rows after the key `after` in `direction`, one more than the page to see if more follow.
    Ordering by the monotonic primary key alone keeps pages stable: a row inserted between two
    pages gets a higher id, so it lands at the head (newest first) or tail (oldest first) and
    never shifts or repeats a row already served."""
    if after is not None:
        query = query.where(key < after if direction == "newest" else key > after)
    query = query.order_by(key.desc() if direction == "newest" else key.asc())
    rows = [dict(r) for r in session.execute(query.limit(limit + 1)).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return Slice(rows, int(rows[-1]["id"]) if more else None)


def sites_query() -> Select[Any]:
    """Every site, by code."""
    return select(t.sites.c.code, t.sites.c.name).order_by(t.sites.c.code)


def site_exists(session: Session, site: str) -> bool:
    """Whether the site is in master data."""
    return session.scalar(select(t.sites.c.code).where(t.sites.c.code == site)) is not None


def _open_deviation(site: str) -> Any:
    d, b = t.deviations.c, t.batches.c
    return exists().where(d.site == site, d.batch == b.code, d.state.in_(list(OPEN_STATES)))


def _decision(site: str, meaning: str) -> Any:
    s, b = t.signatures.c, t.batches.c
    return exists().where(
        s.site == site, s.record_type == "batch", s.record_id == b.code, s.meaning == meaning
    )


def batches_query(
    site: str, product: str | None, on_hold: bool | None, disposition: str | None
) -> Select[Any]:
    """Batches of a site with their hold and QA disposition, filtered."""
    b = t.batches.c
    released, rejected = _decision(site, "released"), _decision(site, "rejected")
    hold = _open_deviation(site)
    query = select(
        b.id,
        b.code,
        b.product,
        b.procedure,
        b.started_at,
        hold.label("on_hold"),
        released.label("released"),
        rejected.label("rejected"),
    ).where(b.site == site)
    if product:
        query = query.where(b.product == product)
    if on_hold is not None:
        query = query.where(hold if on_hold else ~hold)
    if disposition == "released":
        query = query.where(released)
    elif disposition == "rejected":
        query = query.where(rejected)
    elif disposition == "pending":
        query = query.where(~released, ~rejected)
    return query


def batch_item(row: dict[str, Any]) -> dict[str, Any]:
    """A batch row as listed: the two decision flags folded into one disposition."""
    released, rejected = row.pop("released"), row.pop("rejected")
    decided = "released" if released else "rejected" if rejected else "pending"
    return row | {"disposition": decided, "on_hold": bool(row["on_hold"])}


@dataclass(frozen=True)
class ReviewFilter:
    """What a reviewer narrows the queue by; `entered_before` is the age bound."""

    product: str | None = None
    batch: str | None = None
    test_code: str | None = None
    analyst: str | None = None
    entered_before: datetime | None = None


def awaiting_review_query(site: str, where: ReviewFilter) -> Select[Any]:
    """Preliminary results of live samples across batches: the reviewer's queue."""
    r, s = t.results.c, t.samples.c
    query = (
        select(
            r.id,
            r.code.label("result"),
            s.code.label("sample"),
            s.batch,
            s.lot,
            s.product,
            s.sampling_point,
            r.test_code,
            r.raw_value,
            r.raw_unit,
            r.reported_value,
            r.canonical_unit,
            r.conforms,
            r.band,
            r.analyst,
            r.entered_at,
        )
        .join(t.samples, s.id == r.sample_id)
        .where(s.site == site, r.status == ResultStatus.PRELIMINARY)
        .where(s.status != SampleStatus.CANCELLED)
    )
    for column, value in (
        (s.product, where.product),
        (s.batch, where.batch),
        (r.test_code, where.test_code),
        (r.analyst, where.analyst),
    ):
        if value:
            query = query.where(column == value)
    if where.entered_before is not None:
        query = query.where(r.entered_at <= where.entered_before)
    return query


@dataclass(frozen=True)
class SampleFilter:
    """What a supervisor or analyst narrows the samples by."""

    batch: str | None = None
    product: str | None = None
    status: SampleStatus | None = None
    sampling_point: str | None = None
    lot: str | None = None
    sampled_from: datetime | None = None
    sampled_to: datetime | None = None


def samples_query(site: str, where: SampleFilter) -> Select[Any]:
    """Samples of a site with the MES status columns a list shows, filtered."""
    s = t.samples.c
    query = select(
        s.id,
        s.code,
        s.mes_request_id,
        s.product,
        s.batch,
        s.lot,
        s.sampling_point,
        s.specification,
        s.spec_version,
        s.status,
        s.sampled_at,
    ).where(s.site == site)
    for column, value in (
        (s.batch, where.batch),
        (s.product, where.product),
        (s.status, where.status),
        (s.sampling_point, where.sampling_point),
        (s.lot, where.lot),
    ):
        if value:
            query = query.where(column == value)
    if where.sampled_from is not None:
        query = query.where(s.sampled_at >= where.sampled_from)
    if where.sampled_to is not None:
        query = query.where(s.sampled_at < where.sampled_to)
    return query


def outbox_query(site: str | None, destination: str | None, status: str | None) -> Select[Any]:
    """Outbox rows, filtered by site, destination and delivery status."""
    o = t.outbox.c
    query = select(t.outbox)
    for column, value in ((o.site, site), (o.destination, destination), (o.status, status)):
        if value:
            query = query.where(column == value)
    return query
