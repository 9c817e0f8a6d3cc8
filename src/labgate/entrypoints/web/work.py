"""My work: what waits for the visitor, counted with the very queries the API's lists run.
A tile shows only to an account whose role acts on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from labgate.adapters.store import lists, views
from labgate.adapters.store import tables as t
from labgate.adapters.store.dq_view import breaches_query
from labgate.adapters.store.outbox_store import dead_query
from labgate.compliance.access import Permission
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.trending import AlertStatus

P = Permission


@dataclass(frozen=True)
class Tile:
    """One count of waiting work: the permissions that make it the visitor's, the query that
    counts it, and where it is listed (a console page, else the API list)."""

    key: str
    label: str
    permissions: frozenset[Permission]
    page: str | None
    api: str


@dataclass(frozen=True)
class Counted:
    """A tile with its count, for the page."""

    tile: Tile
    count: int


TILES = (
    Tile("review", "Results awaiting review", frozenset({P.APPROVE_RESULT}), "/review",
         "GET /api/v1/sites/{site}/results/awaiting-review"),
    Tile("register", "Samples to register", frozenset({P.REGISTER_SAMPLE}),
         "/worklist?stage=register",
         "GET /api/v1/sites/{site}/samples?status=requested"),
    Tile("test", "Samples to test", frozenset({P.ENTER_RESULT}), "/worklist",
         "GET /api/v1/sites/{site}/samples?status=registered, in_testing"),
    Tile("deviations", "Open deviations (OOS)",
         frozenset({P.INVESTIGATE_DEVIATION, P.CLOSE_DEVIATION}), "/deviations?state=open",
         "GET /api/v1/sites/{site}/deviations?state=open"),
    Tile("oot", "OOT alerts to assess", frozenset({P.ACKNOWLEDGE_OOT}), None,
         "GET /api/v1/sites/{site}/oot-alerts?status=open"),
    Tile("disposition", "Batches awaiting disposition", frozenset({P.RELEASE_BATCH}),
         "/batches?disposition=pending",
         "GET /api/v1/sites/{site}/batches?disposition=pending"),
    Tile("quarantine", "Quarantined messages", frozenset({P.MANAGE_QUARANTINE}), "/desk/quarantine",
         "GET /api/v1/quarantine?status=open"),
    Tile("dq", "Data-quality rules in breach", frozenset({P.RUN_DATA_QUALITY}), "/dq",
         "GET /api/v1/dq/runs?site={site}"),
    Tile("dead", "Dead letters", frozenset({P.RETRY_DELIVERY}), "/desk/outbox?status=dead",
         "GET /api/v1/outbox/dead"),
    # Months of the trail past LABGATE_AUDIT_REVIEW_DAYS without a signed-off review: not a
    # query's rows but periods worked out from the reviews (audit_review_view.overdue_periods).
    Tile("audit_review", "Audit-trail reviews overdue", frozenset({P.REVIEW_AUDIT_TRAIL}),
         "/audit-reviews", "GET /api/v1/sites/{site}/audit-reviews"),
)  # fmt: skip
COMPUTED = frozenset({"audit_review"})  # tiles the page counts itself and passes in


def _queries(site: str) -> dict[str, list[Select[Any]]]:
    samples = lists.SampleFilter
    return {
        "review": [lists.awaiting_review_query(site, lists.ReviewFilter())],
        "register": [lists.samples_query(site, samples(status=SampleStatus.REQUESTED))],
        "test": [
            lists.samples_query(site, samples(status=SampleStatus.REGISTERED)),
            lists.samples_query(site, samples(status=SampleStatus.IN_TESTING)),
        ],
        "deviations": [views.deviations_query(site, "open", None)],
        "oot": [
            select(t.oot_alerts.c.id).where(
                t.oot_alerts.c.site == site, t.oot_alerts.c.status == AlertStatus.OPEN
            )
        ],
        "disposition": [lists.batches_query(site, None, None, "pending")],
        "quarantine": [select(t.quarantine.c.id).where(t.quarantine.c.status == "open")],
        "dead": [dead_query(site)],
        "dq": [breaches_query(site)],
    }


def count(session: Session, query: Select[Any]) -> int:
    """How many rows the list's query gives."""
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    return int(session.scalar(counted) or 0)


def my_work(
    session: Session,
    site: str,
    permissions: frozenset[Permission],
    computed: Mapping[str, int] = MappingProxyType({}),
) -> list[Counted]:
    """The tiles of the visitor's roles, each with its count (`computed`: of COMPUTED tiles)."""
    queries = _queries(site)
    return [
        Counted(tile, computed.get(tile.key, 0) if tile.key in COMPUTED
                else sum(count(session, q) for q in queries[tile.key]))
        for tile in TILES
        if tile.permissions & permissions
    ]  # fmt: skip
