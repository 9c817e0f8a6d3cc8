"""Read models of environmental monitoring: the configuration, the limits in force and their
versions, rounds and samples, excursions, and an excursion's impact list (the equipment of its
room and the batches that were in the room during its window)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.lists import Slice
from labgate.adapters.store.record_pages import record_page
from labgate.compliance.canonical import to_jsonable
from labgate.domain.em_limits import (
    CleanroomGrade,
    EmOutcome,
    EmSampleType,
    OperationalState,
)
from labgate.domain.em_monitoring import (
    EmExcursion,
    EmLocation,
    EmPoint,
    EmRound,
    EmRoute,
    EmSample,
    EmSchedule,
    EmSiteLimit,
    RoomOccupancy,
)
from labgate.domain.em_rules import (
    impact_window,
    limits_in_force,
    overlaps,
)
from labgate.domain.errors import NotFound
from labgate.domain.masterdata import Equipment
from labgate.domain.samples import Sample


def _all(session: Session, kind: type, site: str, **where: Any) -> list[Any]:
    query: Any = select(kind).filter_by(site=site, **where)
    return list(session.scalars(query.order_by(kind.__table__.c.id)))  # type: ignore[attr-defined]


def _one(session: Session, kind: type, what: str, field: str, **key: Any) -> Any:
    found = session.scalars(select(kind).filter_by(**key)).one_or_none()
    if found is None:
        shown = ", ".join(f"{k}={v}" for k, v in key.items())
        raise NotFound(f"No {what} with {shown}.", reason=f"{what}.unknown", field=field)
    return found


def config_view(session: Session, site: str) -> dict[str, Any]:
    """Locations with their grade and room, points, routes and schedules."""
    kinds = {"locations": EmLocation, "points": EmPoint, "routes": EmRoute, "schedules": EmSchedule}
    return {
        name: [to_jsonable(r) for r in _all(session, kind, site)] for name, kind in kinds.items()
    }


def limits_view(
    session: Session,
    site: str,
    grade: CleanroomGrade,
    state: OperationalState,
    sample_type: EmSampleType,
    location: str | None,
    at: datetime,
) -> dict[str, Any]:
    """The limits in force for a cell at a time, and every site version of the cell."""
    versions = _all(session, EmSiteLimit, site)
    applied = limits_in_force(versions, grade, state, sample_type, location or "", at)
    history = [
        to_jsonable(v)
        for v in versions
        if (v.grade, v.state, v.sample_type) == (grade, state, sample_type)
    ]
    return {
        "grade": grade.value,
        "state": state.value,
        "sample_type": sample_type.value,
        "location": location,
        "at": to_jsonable(at),
        "action": applied.cell.action,
        "action_source": applied.cell.source,
        "alert": applied.alert,
        "alert_source": applied.alert_source,
        "unit": applied.cell.unit,
        "version": applied.version,
        "notes": list(applied.cell.notes),
        "versions": history,
    }


def round_view(session: Session, site: str, code: str) -> dict[str, Any]:
    """A round and its samples in route order."""
    em_round = _one(session, EmRound, "em_round", "round", site=site, code=code)
    view: dict[str, Any] = to_jsonable(em_round)
    view["samples"] = [to_jsonable(s) for s in _all(session, EmSample, site, round=code)]
    return view


def rounds_page(session: Session, site: str, after: int | None, limit: int) -> Slice:
    """One page of the site's rounds, newest first, each with its number of samples and of
    those counted (one grouped query for the page)."""
    found = record_page(session, EmRound, to_jsonable, after, limit, "newest", site=site)
    s = t.em_samples.c
    tally = select(s.round, func.count(), func.count(s.counted_at)).where(
        s.site == site, s.round.in_([row["code"] for row in found.rows])
    )
    counts = {row[0]: (row[1], row[2]) for row in session.execute(tally.group_by(s.round))}
    for row in found.rows:
        row["samples"], row["counted"] = counts.get(row["code"], (0, 0))
    return found


def sample_view(session: Session, site: str, code: str) -> dict[str, Any]:
    """An EM sample with its count, the limits applied and their source."""
    found = _one(session, EmSample, "em_sample", "em_sample", site=site, code=code)
    shown: dict[str, Any] = to_jsonable(found)
    return shown


def excursions_view(session: Session, site: str) -> dict[str, Any]:
    """Every excursion of the site, newest first."""
    found = _all(session, EmExcursion, site)
    return {"items": [to_jsonable(x) for x in reversed(found)]}


def excursions_page(session: Session, site: str, after: int | None, limit: int) -> Slice:
    """One page of the site's excursions, newest first."""
    return record_page(session, EmExcursion, to_jsonable, after, limit, "newest", site=site)


def excursion_view(session: Session, site: str, code: str) -> dict[str, Any]:
    """An excursion, its sample and its deviation."""
    excursion = _one(session, EmExcursion, "em_excursion", "excursion", site=site, code=code)
    view: dict[str, Any] = to_jsonable(excursion)
    view["em_sample"] = sample_view(session, site, excursion.sample)
    return view


def impact_view(session: Session, site: str, code: str, now: datetime) -> dict[str, Any]:
    """The room's equipment, and the batches in the room during the excursion's window: from
    the MES's occupancy reports and from samples drawn on the room's equipment."""
    excursion = _one(session, EmExcursion, "em_excursion", "excursion", site=site, code=code)
    place = _one(
        session, EmLocation, "em_location", "location", site=site, location=excursion.location
    )
    within = [
        s.sampled_at
        for s in _all(session, EmSample, site, point=excursion.point)
        if s.outcome is EmOutcome.WITHIN and s.sampled_at is not None
    ]
    window = impact_window(excursion.sampled_at, within, timedelta(days=place.lookback_days), now)
    room = excursion.room
    places = {room} | {p.location for p in _all(session, EmLocation, site, room=room)}
    equipment = [e for e in _all(session, Equipment, site) if e.location in places]
    batches: dict[str, list[dict[str, Any]]] = {}
    for stay in _all(session, RoomOccupancy, site):
        if stay.location in places and overlaps(window, stay.from_at, stay.to_at):
            batches.setdefault(stay.batch, []).append(
                {
                    "via": "occupancy",
                    "location": stay.location,
                    "from_at": stay.from_at,
                    "to_at": stay.to_at,
                    "reported_by": stay.reported_by,
                }
            )
    on_equipment = select(Sample).where(
        t.samples.c.site == site,
        t.samples.c.equipment.in_([e.code for e in equipment]),
        t.samples.c.batch.is_not(None),
    )
    for sample in session.scalars(on_equipment.order_by(t.samples.c.id)):
        if window.start <= sample.sampled_at <= window.end and sample.batch is not None:
            batches.setdefault(sample.batch, []).append(
                {
                    "via": "sample",
                    "sample": sample.code,
                    "equipment": sample.equipment,
                    "sampled_at": sample.sampled_at,
                }
            )
    impact: dict[str, Any] = to_jsonable(
        {
            "excursion": excursion.code,
            "deviation": excursion.deviation,
            "room": room,
            "locations": sorted(places),
            "window": {
                "from": window.start,
                "to": window.end,
                "from_basis": window.start_basis,
                "to_basis": window.end_basis,
            },
            "equipment": [
                {"code": e.code, "name": e.name, "location": e.location} for e in equipment
            ],
            "batches": [{"batch": b, "evidence": ev} for b, ev in sorted(batches.items())],
        }
    )
    return impact


def occupancy_view(session: Session, site: str, location: str | None) -> dict[str, Any]:
    """Reported occupancy, optionally of one location."""
    where = {} if location is None else {"location": location}
    return {"items": [to_jsonable(s) for s in _all(session, RoomOccupancy, site, **where)]}


def occupancy_page(
    session: Session, site: str, location: str | None, after: int | None, limit: int
) -> Slice:
    """One page of reported occupancy, optionally of one location, in the order reported."""
    where = {} if location is None else {"location": location}
    return record_page(
        session, RoomOccupancy, to_jsonable, after, limit, "oldest", site=site, **where
    )


def deviation_extras(session: Session, site: str, code: str, now: datetime) -> dict[str, Any]:
    """What an EM deviation's view shows in place of a lab result: its excursion and impact."""
    found = session.scalars(select(EmExcursion).filter_by(site=site, deviation=code)).one_or_none()
    if found is None:
        return {"excursion": None, "impact": None}
    return {"excursion": found.code, "impact": impact_view(session, site, found.code, now)}
