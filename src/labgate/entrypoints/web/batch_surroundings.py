"""What surrounds a batch on its page, read by the API's own views: its procedure tree with the
sampling points on its phases (as the dossier holds it), the OOT alerts on its results (GET
.../oot-alerts?batch=), and the EM excursions whose impact list names it (as the review by
exception finds them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store.document_facts import readable
from labgate.adapters.store.dossier_view import procedure_of
from labgate.adapters.store.review_signals import reaching
from labgate.adapters.store.stability_views import alerts_page
from labgate.compliance.canonical import to_jsonable
from labgate.domain.batches import Batch
from labgate.domain.errors import NotFound

ALERTS_SHOWN = 50  # the API's default page of OOT alerts; the rest are a link away
ALERT_PEOPLE = frozenset(("analyst", "raised_by", "acknowledged_by"))


def procedure_tree(procedure: dict[str, Any]) -> list[dict[str, Any]]:
    """The procedure's elements nested by path, each phase with the sampling points on it."""
    points: dict[str, list[dict[str, Any]]] = {}
    for point in procedure["sampling_points"]:
        points.setdefault(point["phase_path"], []).append(point)
    nodes = {e["path"]: {**e, "children": [], "points": points.get(e["path"], [])}
             for e in procedure["elements"]}  # fmt: skip
    roots: list[dict[str, Any]] = []
    for path, node in nodes.items():
        parent = nodes.get(path.rpartition("/")[0])
        (parent["children"] if parent else roots).append(node)
    return roots


def batch_surroundings(session: Session, site: str, code: str, now: datetime) -> dict[str, Any]:
    """The procedure tree, the first page of OOT alerts and the EM excursions reaching it."""
    batch = session.scalars(select(Batch).filter_by(site=site, code=code)).one_or_none()
    if batch is None:
        raise NotFound(f"No batch {code} in site {site}.", reason="batch.unknown", field="batch")
    procedure = procedure_of(session, batch)
    alerts = alerts_page(session, site, code, None, None, ALERTS_SHOWN)
    excursions = [to_jsonable(x) for x in reaching(session, batch, now)]
    return {
        "procedure": procedure,
        "tree": procedure_tree(procedure),
        "alerts": readable(session, site, alerts.rows, ALERT_PEOPLE),
        "more_alerts": alerts.last_id is not None,
        "excursions": readable(session, site, excursions, frozenset(("recorded_by",))),
    }
