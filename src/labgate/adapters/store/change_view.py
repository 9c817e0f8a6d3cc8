"""Change requests as the CLI and the console read them: the list of a site's requests, one
request's audit history, and the status map in force beside a proposed one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import config_store, views
from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_reading import readable_entries
from labgate.compliance.canonical import to_jsonable
from labgate.domain.change_control import ChangeRequest, ChangeState
from labgate.domain.errors import NotFound


def change_requests(
    session: Session, site: str, state: ChangeState | None = None
) -> list[ChangeRequest]:
    """A site's change requests (in one state, if given), newest first."""
    query = select(ChangeRequest).filter_by(site=site)
    if state is not None:
        query = query.filter_by(state=state)
    c = t.change_requests.c
    return list(session.scalars(query.order_by(c.created_at.desc(), c.id.desc())))


def change_request(session: Session, site: str, code: str) -> ChangeRequest:
    """One request, or NotFound naming the code."""
    found = session.scalars(select(ChangeRequest).filter_by(site=site, code=code)).one_or_none()
    if found is None:
        raise NotFound(f"No change request {code} in site {site}.",
                       reason="change_request.unknown", field="code")  # fmt: skip
    return found


def request_history(session: Session, site: str, code: str) -> list[dict[str, Any]]:
    """The request's audit entries in chain order, each with its local time and printed name."""
    query = views.audit_query(site=site, record_type="change_request", record_id=code)
    rows = [to_jsonable(dict(r)) for r in session.execute(query).mappings()]
    return readable_entries(session, rows)


def rules_in_force(session: Session, at: datetime) -> list[dict[str, str]]:
    """The status map in force at `at`, as rule rows (what a proposed map is compared with)."""
    in_force = config_store.load_status_map(session).in_force(at)
    return [
        {"lims_status": r.lims_status.value, "outcome": r.outcome.value,
         "mes_status": r.mes_status.value}
        for r in in_force.rules
    ]  # fmt: skip
