"""Reads of the data-quality runs: the list, one run with its lines, the latest run of a site."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.domain.data_quality import DqStatus
from labgate.domain.errors import NotFound


def runs_query(site: str | None) -> Select[Any]:
    """Runs, of one site or all, for keyset pages."""
    r = t.dq_runs.c
    query = select(r.id, r.site, r.started_at, r.started_by, r.trigger, r.rules, r.breaches)
    return query if site is None else query.where(r.site == site)


def run_view(session: Session, run_id: int) -> dict[str, Any]:
    """One run with a line per rule (in the rule table's order) and each deviation's state."""
    row = session.execute(runs_query(None).where(t.dq_runs.c.id == run_id)).mappings().first()
    if row is None:
        raise NotFound(f"No data-quality run {run_id}.", reason="dq_run.unknown", field="run")
    return {**row, "results": _lines(session, row["site"], run_id)}


def latest_run(session: Session, site: str) -> dict[str, Any] | None:
    """The site's newest run with its lines, or None before the first run."""
    newest = session.scalar(select(func.max(t.dq_runs.c.id)).where(t.dq_runs.c.site == site))
    return None if newest is None else run_view(session, newest)


def breaches_query(site: str) -> Select[Any]:
    """The lines in breach of the site's newest run (My work counts them)."""
    x, r = t.dq_rule_results.c, t.dq_runs.c
    newest = select(func.max(r.id)).where(r.site == site).scalar_subquery()
    return select(x.id).where(x.run_id == newest, x.status == DqStatus.BREACH)


def _lines(session: Session, site: str, run_id: int) -> list[dict[str, Any]]:
    x, d = t.dq_rule_results.c, t.deviations.c
    query = (
        select(x.rule, x.dimension, x.severity, x.measured, x.population, x.threshold,
               x.status, x.examples, x.deviation, d.state.label("deviation_state"))
        .join(t.deviations, (d.site == site) & (d.code == x.deviation), isouter=True)
        .where(x.run_id == run_id)
        .order_by(x.id)
    )  # fmt: skip
    return [
        {**row, "status": DqStatus(row["status"]).value,
         "deviation_state": None if row["deviation_state"] is None
         else str(row["deviation_state"].value)}
        for row in session.execute(query).mappings()
    ]  # fmt: skip
