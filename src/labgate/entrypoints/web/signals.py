"""The signals a review-queue row carries, from what labgate already knows of it: its own
evaluation (out of specification, alert or action band), a unit converted on the way in, an
open out-of-trend alert on the result, and environmental excursions that reached its batch
(review_signals.py, as review by exception finds them). Nothing is decided here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.review_signals import excursions_reaching
from labgate.domain.batches import Batch
from labgate.domain.limits import Band
from labgate.domain.trending import AlertStatus

Tone = Literal["bad", "warn", "info"]


@dataclass(frozen=True)
class Signal:
    """One thing a reviewer should look at before approving: a short label and the detail."""

    kind: str
    label: str
    detail: str
    tone: Tone


def own_signals(row: dict[str, Any], resolved: str | None = None) -> list[Signal]:
    """What the row's own columns say; `resolved` is the dictionary unit its reported unit
    resolved to (an alias such as `pct` is no conversion)."""
    found = []
    if row["conforms"] is False:
        found.append(Signal("oos", "OOS", "Out of specification against its limit set.", "bad"))
    if row["band"] in (Band.ALERT, Band.ACTION):
        level = "Action" if row["band"] == Band.ACTION else "Alert"
        tone: Tone = "bad" if row["band"] == Band.ACTION else "warn"
        found.append(Signal("band", f"{level} band", f"Beyond the {level.lower()} limit.", tone))
    raw, canonical = resolved or row["raw_unit"], row["canonical_unit"]
    if raw and canonical and raw != canonical:
        detail = f"Reported in {raw}, converted to {canonical} (exact, recorded on the result)."
        found.append(Signal("unit", "Unit converted", detail, "info"))
    return found


def page_signals(
    session: Session, site: str, rows: Iterable[dict[str, Any]], now: datetime
) -> dict[str, list[Signal]]:
    """Every row's signals, by result code; the batches' are read once per batch on the page."""
    rows = list(rows)
    resolved = _resolved_units(session, [row["id"] for row in rows])
    oot = _open_oot(session, site, [row["result"] for row in rows])
    reaching = {code: _excursions(session, site, code, now) for code in _batches(rows)}
    return {
        row["result"]: [
            *own_signals(row, resolved.get(row["id"])),
            *oot.get(row["result"], []),
            *reaching.get(row["batch"] or "", []),
        ]
        for row in rows
    }


def _resolved_units(session: Session, ids: list[int]) -> dict[int, str | None]:
    if not ids:
        return {}
    r = t.results.c
    query = select(r.id, r.resolved_unit).where(r.id.in_(ids))
    return {row.id: row.resolved_unit for row in session.execute(query)}


def _batches(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({row["batch"] for row in rows if row["batch"]})


def _open_oot(session: Session, site: str, results: list[str]) -> dict[str, list[Signal]]:
    """Open OOT alerts on these results (the alerts review_signals.open_alerts finds)."""
    if not results:
        return {}
    a = t.oot_alerts.c
    query = select(a.code, a.result, a.predicted, a.lower, a.upper).where(
        a.site == site, a.status == AlertStatus.OPEN, a.result.in_(results)
    )
    found: dict[str, list[Signal]] = {}
    for alert in session.execute(query.order_by(a.code)).mappings():
        detail = (
            f"OOT alert {alert['code']} open: predicted {alert['predicted']}, band "
            f"{alert['lower']} to {alert['upper']}; not yet assessed."
        )
        found.setdefault(alert["result"], []).append(Signal("oot", "Out of trend", detail, "warn"))
    return found


def _excursions(session: Session, site: str, code: str, now: datetime) -> list[Signal]:
    batch = session.scalars(select(Batch).filter_by(site=site, code=code)).one_or_none()
    if batch is None:
        return []
    return [
        Signal("em", "EM excursion", finding.why, "warn")
        for finding in excursions_reaching(session, batch, now)
    ]
