"""The demo plant's environmental monitoring: a filling suite (grade A filling zone in its grade B
room, a grade C preparation room), a point of every sample type, routes and schedules, the site's
alert levels under change control, three weeks of rounds mostly within limits, one alert
excursion, and one action excursion whose deviation lists the batch that was in the room."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from labgate.domain import em_commands as em
from labgate.domain.batches import Batch
from labgate.domain.deviation_commands import ConcludePhaseOne
from labgate.domain.deviations import Deviation
from labgate.domain.em_monitoring import EM_EXCURSION, EmSample
from labgate.domain.masterdata import Site

SUITE: dict[str, Any] = {
    "locations": [
        {"code": "FILL-A", "name": "Aseptic filling zone (RABS), grade A"},
        {"code": "FILL-B", "name": "Aseptic filling room, grade B background"},
        {"code": "PREP-C", "name": "Solution preparation room, grade C"},
    ],
    "equipment": [
        {"code": "FILLER-01", "name": "Vial filling and stoppering machine", "location": "FILL-A"},
        {"code": "RABS-01", "name": "Restricted access barrier system", "location": "FILL-B"},
        {"code": "VESSEL-01", "name": "Compounding vessel 200 L", "location": "PREP-C"},
    ],
}
LOCATIONS = (("FILL-A", "A", "FILL-B"), ("FILL-B", "B", "FILL-B"), ("PREP-C", "C", "PREP-C"))
# (point, location, sample type, description, typical count)
POINTS = (
    ("A-AIR-01", "FILL-A", "air", "Active air sampler at the filling needles", 0),
    ("A-SETTLE-01", "FILL-A", "settle", "Settle plate beside the stopper bowl", 0),
    ("A-CONTACT-01", "FILL-A", "contact", "Contact plate, filling line guide rail", 0),
    ("A-GLOVE-01", "FILL-A", "glove", "Glove print, RABS glove port 2", 0),
    ("A-P05-01", "FILL-A", "particles-0.5", "Particle counter probe at the filling point", 900),
    ("A-P5-01", "FILL-A", "particles-5", "Particle counter probe at the filling point", 4),
    ("B-AIR-01", "FILL-B", "air", "Active air sampler at the RABS door", 1),
    ("B-SETTLE-01", "FILL-B", "settle", "Settle plate at the material airlock", 1),
    ("B-CONTACT-01", "FILL-B", "contact", "Contact plate, floor by the RABS", 1),
    ("B-P05-01", "FILL-B", "particles-0.5", "Particle counter in the room", 40_000),
    ("C-AIR-01", "PREP-C", "air", "Active air sampler over the vessel", 12),
    ("C-CONTACT-01", "PREP-C", "contact", "Contact plate, vessel platform", 4),
    ("C-P05-01", "PREP-C", "particles-0.5", "Particle counter in the room", 300_000),
)
ROUTES = (
    ("R-ASEPTIC", "Aseptic filling suite", [p[0] for p in POINTS if p[1] != "PREP-C"]),
    ("R-PREP", "Preparation room", [p[0] for p in POINTS if p[1] == "PREP-C"]),
)
# Site alert levels (grade, state, type, alert), from the trend data of qualification.
ALERTS = (
    ("B", "in-operation", "air", 5),
    ("B", "in-operation", "settle", 2),
    ("B", "in-operation", "contact", 3),
    ("A", "in-operation", "particles-0.5", 2_000),
    ("B", "in-operation", "particles-0.5", 200_000),
    ("C", "in-operation", "air", 50),
    ("C", "in-operation", "contact", 15),
)
DAYS = 21
ALERT_DAY, ACTION_DAY = 10, 5  # days before now: B-SETTLE-01 alert, A-AIR-01 action


def seed_environmental(hub: Hub, site: str, credentials: dict[str, str]) -> None:
    """Configure the suite, then walk its routes every other day for three weeks."""
    now = hub.bus.deps.clock.now().replace(minute=0, second=0, microsecond=0)
    hub.bus.handle(
        c.ImportMasterData(
            c.Context("admin"), {"site": _site(hub, site), **SUITE}, "demo filling suite (seed)"
        )
    )
    _configure(hub, site, credentials, now)
    _occupancy(hub, site, now)
    analyst, rng = c.Context("analyst"), random.Random(2026)
    for day in range(DAYS, 0, -1):
        for route, every, hour in (("R-ASEPTIC", 2, 10), ("R-PREP", 4, 14)):
            if day % every and day != ACTION_DAY:
                continue  # the filling suite every other day, the preparation room less often
            planned = (now - timedelta(days=day)).replace(hour=hour)
            code = hub.bus.handle(em.StartEmRound(analyst, site, route, "in-operation", planned))
            for sample, point in _samples(hub, site, code):
                value = _count(point, day, rng)
                hub.bus.handle(em.RecordEmCount(analyst, site, sample, value))
    _investigate(hub, site, credentials)


def _site(hub: Hub, site: str) -> dict[str, str]:
    with hub.uow_factory() as uow:
        found = uow.records.get(Site, code=site)
        return {"code": site, "name": found.name if found else site}


def _configure(hub: Hub, site: str, credentials: dict[str, str], now: datetime) -> None:
    qa, why = c.Context("qa"), "CC-EM-2026-01: filling suite qualified"
    for location, grade, room in LOCATIONS:
        hub.bus.handle(em.ConfigureEmLocation(qa, site, location, grade, room, 7, why))
    for point, location, kind, description, _ in POINTS:
        hub.bus.handle(em.ConfigureEmPoint(qa, site, point, location, kind, description, 3, why))
    for route, name, points in ROUTES:
        hub.bus.handle(em.ConfigureEmRoute(qa, site, route, name, tuple(points), why))
    tomorrow = (now + timedelta(days=1)).replace(hour=6)
    hub.bus.handle(
        em.ConfigureEmSchedule(
            qa, site, "S-ASEPTIC", "R-ASEPTIC", "in-operation", "shift", tomorrow, why
        )
    )
    hub.bus.handle(
        em.ConfigureEmSchedule(qa, site, "S-PREP", "R-PREP", "at-rest", "weekly", tomorrow, why)
    )
    signature = c.SignatureInput("qa", credentials["qa"], "approved")
    start = now - timedelta(days=DAYS + 7)
    for grade, state, kind, alert in ALERTS:
        hub.bus.handle(
            em.SetEmLimit(
                qa,
                site,
                grade,
                state,
                kind,
                None,
                None,
                alert,
                start,
                "CC-EM-2026-02: alert levels from qualification trend data",
                signature,
            )
        )


def _occupancy(hub: Hub, site: str, now: datetime) -> None:
    """The MES reports the demo batches' stays in the suite; one overlaps the action excursion."""
    with hub.uow_factory() as uow:
        batches = sorted(b.code for b in uow.records.find(Batch, site=site))
    mes = c.Context("mes", "system")
    stays = (
        (batches[0], "FILL-B", ACTION_DAY + 2, ACTION_DAY - 1),  # in the room at the excursion
        (batches[1], "PREP-C", ACTION_DAY + 1, ACTION_DAY),  # the other room
        (batches[2], "FILL-B", DAYS - 1, DAYS - 3),  # long before
    )
    for batch, location, since, until in stays:
        start, end = now - timedelta(days=since), now - timedelta(days=until)
        hub.bus.handle(em.ReportOccupancy(mes, site, batch, location, start, end))


def _samples(hub: Hub, site: str, em_round: str) -> list[tuple[str, str]]:
    """(sample, point) of a round's samples."""
    with hub.uow_factory() as uow:
        return [(s.code, s.point) for s in uow.records.find(EmSample, site=site, round=em_round)]


def _count(point: str, day: int, rng: random.Random) -> Decimal:
    """A plausible count: mostly at the point's usual level, two excursions on set days."""
    if point == "B-SETTLE-01" and day == ALERT_DAY:
        return Decimal(4)  # above the site's alert level 2, below Annex 1's 5
    if point == "A-AIR-01" and day == ACTION_DAY:
        return Decimal(1)  # grade A: any growth is an action excursion
    typical = next(p[4] for p in POINTS if p[0] == point)
    if typical == 0:
        return Decimal(0)
    if typical < 20:
        return Decimal(rng.randint(0, typical))
    return Decimal(int(typical * rng.uniform(0.6, 1.3)))


def _investigate(hub: Hub, site: str, credentials: dict[str, str]) -> None:
    """The action excursion's deviation: phase I found no assignable cause; phase II is open."""
    with hub.uow_factory() as uow:
        found = uow.records.find(Deviation, site=site, kind=EM_EXCURSION)
        codes = [d.code for d in found]
    reviewed = c.SignatureInput("reviewer", credentials["reviewer"], "reviewed")
    for code in codes:
        hub.bus.handle(
            ConcludePhaseOne(
                c.Context("reviewer"),
                site,
                code,
                "no_assignable_cause",
                "Sampler calibrated, media lot passed growth promotion, plate "
                "handling observed: no laboratory or sampling error.",
                reviewed,
            )
        )
