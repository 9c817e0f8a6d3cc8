"""What surrounds a batch on its page, read by the API's own views: its procedure tree with the
sampling points on its phases (as the dossier holds it), the OOT alerts on its results (GET
.../oot-alerts?batch=), and the EM excursions whose impact list names it (as the review by
exception finds them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from labgate.adapters.store.document_facts import readable
from labgate.adapters.store.dossier_view import procedure_of
from labgate.adapters.store.stability_views import alerts_page
from labgate.compliance.canonical import to_jsonable
from labgate.domain.batches import Batch
from labgate.domain.em_monitoring import EmExcursion

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


def batch_surroundings(
    session: Session, batch: Batch, reaching: Sequence[EmExcursion]
) -> dict[str, Any]:
    """The procedure tree, the first page of OOT alerts and the EM excursions reaching the
    batch (review_signals.reaching, read once for the page and its review)."""
    site = batch.site
    procedure = procedure_of(session, batch)
    alerts = alerts_page(session, site, batch.code, None, None, ALERTS_SHOWN)
    excursions = [to_jsonable(x) for x in reaching]
    return {
        "procedure": procedure,
        "tree": procedure_tree(procedure),
        "alerts": readable(session, site, alerts.rows, ALERT_PEOPLE),
        "more_alerts": alerts.last_id is not None,
        "excursions": readable(session, site, excursions, frozenset(("recorded_by",))),
    }
