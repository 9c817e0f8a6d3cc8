"""Commands of environmental monitoring: configuration under change control, rounds, counts,
and the room occupancy the MES reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from labgate.domain.commands import Command, SignatureInput


@dataclass(frozen=True)
class ConfigureEmLocation(Command):
    """Grade a master-data location and name the room it belongs to."""

    site: str
    location: str
    grade: str
    room: str
    lookback_days: int
    reason: str


@dataclass(frozen=True)
class ConfigureEmPoint(Command):
    """A sampling point in a graded location."""

    site: str
    code: str
    location: str
    sample_type: str
    description: str
    alerts_to_deviation: int
    reason: str


@dataclass(frozen=True)
class ConfigureEmRoute(Command):
    """A route: the points, in the order they are sampled."""

    site: str
    code: str
    name: str
    points: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class ConfigureEmSchedule(Command):
    """When a route is sampled, and in which operational state."""

    site: str
    code: str
    route: str
    state: str
    frequency: str
    next_due: datetime
    reason: str


@dataclass(frozen=True)
class SetEmLimit(Command):
    """A new version of the site's limits for one cell, signed by QA: a tighter action limit
    (or Annex 1's when None) and an alert level, in force from `effective_from`."""

    site: str
    grade: str
    state: str
    sample_type: str
    location: str | None
    action: int | None
    alert: int | None
    effective_from: datetime
    reason: str
    signature: SignatureInput


@dataclass(frozen=True)
class StartEmRound(Command):
    """Walk a route now: an EM sample per point, planned at `planned_at`."""

    site: str
    route: str
    state: str
    planned_at: datetime
    schedule: str | None = None


@dataclass(frozen=True)
class StartDueRounds(Command):
    """Start a round for every schedule that is due (the scheduler's tick)."""

    site: str


@dataclass(frozen=True)
class RecordEmCount(Command):
    """The count of one EM sample, judged against the limits in force when it was taken."""

    site: str
    em_sample: str
    count: Decimal
    sampled_at: datetime | None = None


@dataclass(frozen=True)
class ReportOccupancy(Command):
    """The MES says a batch was (or is) in a room."""

    site: str
    batch: str
    location: str
    from_at: datetime
    to_at: datetime | None
