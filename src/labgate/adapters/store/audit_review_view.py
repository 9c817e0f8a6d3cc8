"""Periodic audit-trail reviews as read: one review whole (the report's content), the list, and
the calendar months whose review is overdue (LABGATE_AUDIT_REVIEW_DAYS after the month ends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.views import signature_view, signatures_of
from labgate.compliance.audit_review import AuditReview, ReviewState
from labgate.compliance.clock import as_utc, iso_utc
from labgate.compliance.trail_categories import TITLES, Category
from labgate.domain.errors import NotFound

r = t.audit_reviews.c
MONTHS_LOOKED_BACK = 24


def get_review(session: Session, site: str, code: str) -> AuditReview:
    """A review by site and code, or NotFound."""
    found = session.scalars(select(AuditReview).filter_by(site=site, code=code)).one_or_none()
    if found is None:
        raise NotFound(f"No audit-trail review {code} in site {site}.",
                       reason="audit_review.unknown", field="review")  # fmt: skip
    return found


def review_record(session: Session, site: str, code: str) -> dict[str, Any]:
    """The review whole, as the API answers it and the report prints it."""
    review = get_review(session, site, code)
    content = review.signed_content()
    signatures = [signature_view(s, content)
                  for s in signatures_of(session, site, "audit_review", code)]  # fmt: skip
    categories = [{"category": c.value, "title": TITLES[c], **review.findings["categories"][c]}
                  for c in Category]  # fmt: skip
    return {**_item(review), "categories": categories,
            "by_interface": review.findings["by_interface"],
            "listed_at_most": review.findings["listed_at_most"],
            "privileged_actors": review.findings["privileged_actors"],
            "sample": review.sample, "comment": review.comment,
            "signatures": signatures}  # fmt: skip


def review_items(session: Session, site: str, limit: int = 100) -> list[dict[str, Any]]:
    """The site's reviews, newest first."""
    query = select(AuditReview).filter_by(site=site).order_by(r.id.desc()).limit(limit)
    return [_item(review) for review in session.scalars(query)]


def _item(review: AuditReview) -> dict[str, Any]:
    counts = {k: v["count"] for k, v in review.findings["categories"].items()}
    unmarked = sum(1 for i in review.sample if not i.get("mark"))
    return {"site": review.site, "code": review.code, "state": review.state.value,
            "period_from": iso_utc(review.period_from), "period_to": iso_utc(review.period_to),
            "source": review.source, "seed": review.seed, "created_by": review.created_by,
            "created_at": iso_utc(review.created_at), "content_hash": review.content_hash,
            "total": review.findings["total"], "counts": counts, "sampled": len(review.sample),
            "unmarked": unmarked, "signed_by": review.signed_by,
            "signed_at": iso_utc(review.signed_at) if review.signed_at else None}  # fmt: skip


def overdue_periods(session: Session, site: str, now: datetime, days: int) -> list[dict[str, str]]:
    """Calendar months (UTC) with trail entries for the site that no signed-off review of all
    interfaces covers, `days` or more after they ended; oldest first."""
    a = t.audit_entries.c
    first = session.scalar(select(func.min(a.at)).where(or_(a.site == site, a.site.is_(None))))
    if first is None:
        return []
    covered = _merged(session.execute(
        select(r.period_from, r.period_to)
        .where(r.site == site, r.source.is_(None), r.state == ReviewState.SIGNED_OFF)
    ).all())  # fmt: skip
    start = max(
        _month_start(as_utc(first)), _month_start(now) - timedelta(days=31 * MONTHS_LOOKED_BACK)
    )
    due: list[dict[str, str]] = []
    month = _month_start(start)
    while True:
        end = _month_start(month + timedelta(days=32))
        if now < end + timedelta(days=days):
            return due
        if not any(f <= month and end <= to for f, to in covered):
            due.append({"period_from": iso_utc(month), "period_to": iso_utc(end),
                        "due": iso_utc(end + timedelta(days=days))})  # fmt: skip
        month = end


def _merged(periods: Any) -> list[tuple[datetime, datetime]]:
    spans: list[tuple[datetime, datetime]] = []
    for start, end in sorted((as_utc(f), as_utc(to)) for f, to in periods):
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def _month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)
