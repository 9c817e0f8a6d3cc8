"""Read models of stability studies: a study with its schedule and pulls, its trend data (every
batch of the product on the same condition), and OOT alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.lists import Slice
from labgate.adapters.store.record_pages import record_page
from labgate.adapters.store.views import signature_view, signatures_of
from labgate.compliance.canonical import to_jsonable
from labgate.domain.errors import NotFound
from labgate.domain.samples import Sample
from labgate.domain.stability import (
    StabilityPull,
    StabilityStudy,
    closure_content,
    study_content,
)
from labgate.domain.trending import AlertStatus, OotAlert, alert_content
from labgate.service.reactions.oot import approved_value


def get_study(session: Session, site: str, code: str) -> StabilityStudy:
    """A study, or NotFound."""
    found = session.scalars(select(StabilityStudy).filter_by(site=site, code=code)).one_or_none()
    if found is None:
        raise NotFound(
            f"No stability study {code} in site {site}.",
            reason="stability_study.unknown",
            field="study",
        )
    return found


def study_view(session: Session, site: str, code: str, now: datetime) -> dict[str, Any]:
    """The protocol, its lifecycle and signatures, and every scheduled pull with its state."""
    study = get_study(session, site, code)
    view: dict[str, Any] = to_jsonable(study)
    pulls = {(p.condition, p.months): p for p in _pulls(session, site, study=code)}
    view["schedule"] = [
        _scheduled(
            pulls.get((due.condition, due.months)),
            due.condition,
            due.months,
            due.due_at,
            study.window_days,
            now,
        )
        for due in study.schedule()
    ]
    content, closure = study_content(study), closure_content(study)
    # The approval signed the protocol; a cancellation signed the protocol with its closure.
    view["signatures"] = [
        signature_view(s, closure if s.is_valid_for(closure) else content)
        for s in signatures_of(session, site, "stability_study", code)
    ]
    return view


def _scheduled(
    pull: StabilityPull | None,
    condition: str,
    months: int,
    due_at: datetime,
    window: int,
    now: datetime,
) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "condition": condition,
        "time_point": months,
        "due_at": to_jsonable(due_at),
    }
    if pull is not None:
        shown |= {
            "state": "pulled",
            "sample": pull.sample,
            "pulled_by": pull.pulled_by,
            "pulled_at": to_jsonable(pull.pulled_at),
            "window_reason": pull.window_reason,
        }
    else:
        late = (now - due_at).days > window
        shown["state"] = (
            "overdue" if late else "due" if (due_at - now).days <= window else "planned"
        )
    return shown


def studies_rows(session: Session, site: str) -> list[dict[str, Any]]:
    """The site's studies, newest first."""
    query = select(StabilityStudy).filter_by(site=site).order_by(t.stability_studies.c.code.desc())
    return [_study_row(s) for s in session.scalars(query)]


def studies_page(session: Session, site: str, after: int | None, limit: int) -> Slice:
    """One page of the site's studies, newest first."""
    return record_page(session, StabilityStudy, _study_row, after, limit, "newest", site=site)


def _study_row(study: StabilityStudy) -> dict[str, Any]:
    return {
        "code": study.code,
        "product": study.product,
        "batch": study.batch,
        "status": study.status.value,
        "conditions": study.conditions,
        "start_at": to_jsonable(study.start_at),
    }


def _pulls(session: Session, site: str, **where: Any) -> list[StabilityPull]:
    query = select(StabilityPull).filter_by(site=site, **where).order_by(t.stability_pulls.c.id)
    return list(session.scalars(query))


def trend_data(session: Session, site: str, code: str) -> dict[str, Any]:
    """Per trended test and condition, the approved results (batch, months, value) of every
    study of the product on that condition: Q1E wants three batches or more together."""
    study = get_study(session, site, code)
    pulls = [
        p for p in _pulls(session, site, product=study.product) if p.condition in study.conditions
    ]
    samples = _samples(session, site, {p.sample for p in pulls})
    series = []
    for condition in study.conditions:
        for test in study.tests:
            points = [
                {
                    "batch": p.batch,
                    "study": p.study,
                    "time": p.months,
                    "sample": p.sample,
                    "value": str(value),
                }
                for p in pulls
                if p.condition == condition
                and p.sample in samples
                and (value := approved_value(samples[p.sample], test)) is not None
            ]
            points.sort(key=lambda x: (x["batch"], x["time"]))
            series.append(
                {
                    "test_code": test,
                    "condition": condition,
                    "criterion": study.criteria[test],
                    "points": points,
                }
            )
    return {
        "site": site,
        "study": study.code,
        "product": study.product,
        "batch": study.batch,
        "long_term_condition": study.conditions[0],
        "series": series,
    }


def _samples(session: Session, site: str, codes: set[str]) -> dict[str, Sample]:
    if not codes:
        return {}
    query = select(Sample).filter_by(site=site).where(t.samples.c.code.in_(codes))
    return {s.code: s for s in session.scalars(query)}


def alerts_rows(
    session: Session, site: str, batch: str | None, status: AlertStatus | None
) -> list[dict[str, Any]]:
    """OOT alerts of a site, optionally of one batch and one status, newest first."""
    where: dict[str, Any] = {"site": site}
    if batch is not None:
        where["batch"] = batch
    if status is not None:
        where["status"] = status
    query = select(OotAlert).filter_by(**where).order_by(t.oot_alerts.c.code.desc())
    return [to_jsonable(a) for a in session.scalars(query)]


def alerts_page(
    session: Session,
    site: str,
    batch: str | None,
    status: AlertStatus | None,
    after: int | None,
    limit: int,
) -> Slice:
    """One page of OOT alerts, optionally of one batch and one status, newest first."""
    where: dict[str, Any] = {"site": site}
    if batch is not None:
        where["batch"] = batch
    if status is not None:
        where["status"] = status
    return record_page(session, OotAlert, to_jsonable, after, limit, "newest", **where)


def alert_view(session: Session, site: str, code: str) -> dict[str, Any]:
    """An alert, with the signature of its assessment."""
    alert = session.scalars(select(OotAlert).filter_by(site=site, code=code)).one_or_none()
    if alert is None:
        raise NotFound(
            f"No OOT alert {code} in site {site}.", reason="oot_alert.unknown", field="alert"
        )
    view: dict[str, Any] = to_jsonable(alert)
    content = alert_content(alert)
    view["signatures"] = [
        signature_view(s, content) for s in signatures_of(session, site, "oot_alert", code)
    ]
    return view


def alerts_of_samples(session: Session, site: str, samples: set[str]) -> list[dict[str, Any]]:
    """The OOT alerts raised on results of these samples (a trend's points), oldest first."""
    if not samples:
        return []
    query = (
        select(OotAlert)
        .filter_by(site=site)
        .where(t.oot_alerts.c.sample.in_(samples))
        .order_by(t.oot_alerts.c.id)
    )
    return [to_jsonable(a) for a in session.scalars(query)]
