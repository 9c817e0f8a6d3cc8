"""What review by exception adds from outside the batch's own samples: open out-of-trend
alerts on its results, and environmental excursions in a room while the batch was there.

Neither stops a release by itself (an OOT alert is an alert, not a rejection; an excursion's
deviation is QA's to assess), but a batch with either is not ready by exception: a reviewer
must look at it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.em_views import impact_view
from labgate.domain.batches import Batch
from labgate.domain.disposition import Finding
from labgate.domain.em_monitoring import EmExcursion
from labgate.domain.trending import AlertStatus, OotAlert

# Excursions sampled this long before the batch started can still reach it: an impact window
# opens at the last good sample of its point, at most a location's look-back before it.
REACH = timedelta(days=31)


def open_alerts(session: Session, batch: Batch) -> list[Finding]:
    """Open OOT alerts on the batch's results."""
    query = select(OotAlert).filter_by(site=batch.site, batch=batch.code, status=AlertStatus.OPEN)
    return [
        Finding(
            "oot_alert_open",
            "alert",
            alert.code,
            f"Result {alert.result} ({alert.test_code}) = {alert.value} is out of trend "
            f"(predicted {alert.predicted}, band {alert.lower} to {alert.upper}); "
            "not yet assessed.",
        )
        for alert in session.scalars(query.order_by(t.oot_alerts.c.code))
    ]


def excursions_reaching(session: Session, batch: Batch, now: datetime) -> list[Finding]:
    """Excursions whose impact list, as of `now`, names the batch. An open window ends at
    `now`, so the dossier (reproducible from its data alone) leaves these to the live review."""
    return excursion_findings(reaching(session, batch, now))


def excursion_findings(excursions: Iterable[EmExcursion]) -> list[Finding]:
    """The review's finding for each excursion reaching a batch."""
    findings = []
    for excursion in excursions:
        deviation = f"; deviation {excursion.deviation}" if excursion.deviation else ""
        why = (
            f"EM {excursion.outcome.value} at {excursion.point} in room {excursion.room} "
            f"({excursion.count} at {excursion.sampled_at:%Y-%m-%d %H:%M}) while the batch "
            f"was there{deviation}."
        )
        findings.append(Finding("em_excursion", "excursion", excursion.code, why))
    return findings


def reaching(session: Session, batch: Batch, now: datetime) -> list[EmExcursion]:
    """The excursions whose impact list, as of `now`, names the batch. An impact list names a
    batch only through its occupancy of the excursion's room or its samples drawn on the room's
    equipment, so the impact (which reads the point's and the site's history) is computed only
    for excursions in a room where the batch has been at all."""
    query = select(EmExcursion).filter_by(site=batch.site)
    if batch.started_at is not None:
        query = query.where(t.em_excursions.c.sampled_at >= batch.started_at - REACH)
    excursions = list(session.scalars(query.order_by(t.em_excursions.c.code)))
    if not excursions:
        return []
    been = _places_of(session, batch)
    return [
        excursion
        for excursion in excursions
        if _places_in(session, batch.site, excursion.room) & been
        and any(
            b["batch"] == batch.code
            for b in impact_view(session, batch.site, excursion.code, now)["batches"]
        )
    ]


def _places_of(session: Session, batch: Batch) -> set[str]:
    """Every location the batch has been reported in, or had a sample drawn on equipment at."""
    o, s, e = t.room_occupancy.c, t.samples.c, t.equipment.c
    stays = select(o.location).where(o.site == batch.site, o.batch == batch.code)
    drawn = (
        select(e.location)
        .join(t.samples, (s.site == e.site) & (s.equipment == e.code))
        .where(s.site == batch.site, s.batch == batch.code)
    )
    return {str(place) for place in session.scalars(stays.union(drawn)) if place is not None}


def _places_in(session: Session, site: str, room: str) -> set[str]:
    """The room and the locations inside it, as impact_view counts them."""
    inside = select(t.em_locations.c.location).where(
        t.em_locations.c.site == site, t.em_locations.c.room == room
    )
    return {room} | {str(place) for place in session.scalars(inside)}
