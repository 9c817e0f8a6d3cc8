"""Environmental monitoring in the plant: graded locations, points, routes, schedules, the site's
limits under change control, rounds of EM samples, excursions and their impact window.

The limits a count is judged by are the Annex 1 defaults (`em_limits.ANNEX1_2022`) with the
site's versions laid over them: a site version may only tighten an action limit (Annex 1, 9.9),
sets the alert level, and applies from its effective time on, so a sample is always judged by the
version in force when it was taken, whenever its count arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from labgate.domain import events
from labgate.domain.em_limits import (
    CleanroomGrade,
    EmEvaluation,
    EmOutcome,
    EmSampleType,
    OperationalState,
)

SITE_SOURCE = "site"
EM_EXCURSION = "em_excursion"  # the kind of deviation an EM excursion opens


class Frequency(StrEnum):
    """How often a route is sampled."""

    SHIFT = "shift"
    DAILY = "daily"
    WEEKLY = "weekly"

    @property
    def period(self) -> timedelta:
        """The time between two rounds (a shift is eight hours)."""
        hours = {Frequency.SHIFT: 8, Frequency.DAILY: 24, Frequency.WEEKLY: 168}[self]
        return timedelta(hours=hours)


class EmSampleStatus(StrEnum):
    """A planned EM sample waits for its count (after incubation for viables)."""

    PLANNED = "planned"
    COUNTED = "counted"


@dataclass
class EmLocation:
    """A master-data location with its cleanroom grade and the room it belongs to (a grade A
    zone sits inside its grade B room); the look-back bounds an impact window with no history."""

    site: str
    location: str
    grade: CleanroomGrade
    room: str
    lookback_days: int
    changed_by: str
    changed_at: datetime
    reason: str


@dataclass
class EmPoint:
    """A sampling point in a location: one sample type; N alerts in a row open a deviation."""

    site: str
    code: str
    location: str
    sample_type: EmSampleType
    description: str
    alerts_to_deviation: int
    changed_by: str
    changed_at: datetime
    reason: str


@dataclass
class EmRoute:
    """An ordered walk through EM points."""

    site: str
    code: str
    name: str
    points: list[str]
    changed_by: str
    changed_at: datetime
    reason: str


@dataclass
class EmSchedule:
    """When a route is sampled, in which operational state; `next_due` moves on per round."""

    site: str
    code: str
    route: str
    state: OperationalState
    frequency: Frequency
    next_due: datetime
    changed_by: str
    changed_at: datetime
    reason: str


@dataclass
class EmSiteLimit:
    """One version of the site's limits for one cell, optionally for one location only."""

    site: str
    code: str
    grade: CleanroomGrade
    state: OperationalState
    sample_type: EmSampleType
    location: str | None
    action: int | None
    alert: int | None
    effective_from: datetime
    reason: str
    approved_by: str
    approved_at: datetime


@dataclass
class EmRound:
    """One walk of a route: an EM sample per point."""

    site: str
    code: str
    route: str
    schedule: str | None
    state: OperationalState
    planned_at: datetime
    started_by: str
    started_at: datetime


@dataclass
class EmSample:
    """One EM sample; once counted it keeps the limits applied and where they came from."""

    site: str
    code: str
    round: str
    point: str
    location: str
    grade: CleanroomGrade
    state: OperationalState
    sample_type: EmSampleType
    planned_at: datetime
    status: EmSampleStatus = EmSampleStatus.PLANNED
    sampled_at: datetime | None = None
    count: Decimal | None = None
    unit: str | None = None
    counted_by: str | None = None
    counted_at: datetime | None = None
    outcome: EmOutcome | None = None
    action_limit: int | None = None
    alert_limit: int | None = None
    action_source: str | None = None
    alert_source: str | None = None
    limit_version: str | None = None
    excursion: str | None = None
    events: list[events.Event] = field(default_factory=list, compare=False, repr=False)

    def record_count(
        self, judged: EmEvaluation, version: str | None, sampled_at: datetime, by: str, at: datetime
    ) -> None:
        """Keep the count with its outcome, the limits applied, their sources and version."""
        self.status, self.sampled_at, self.count = EmSampleStatus.COUNTED, sampled_at, judged.count
        self.unit, self.counted_by, self.counted_at = judged.limit.unit, by, at
        self.outcome, self.limit_version = judged.outcome, version
        self.action_limit, self.action_source = judged.limit.action, judged.limit.source
        self.alert_limit, self.alert_source = judged.alert, judged.alert_source

    def exceeded(self, excursion: str, action: bool, reason: str, at: datetime) -> None:
        """The count is an excursion, recorded as `excursion` (above the action limit if
        `action`, else above the alert level)."""
        self.excursion = excursion
        self.events.append(
            events.EmExcursionRecorded(self.site, self.code, at, excursion, action, reason)
        )


@dataclass
class EmExcursion:
    """A count above the alert level or the action limit; an action excursion, or a run of
    alerts, has its deviation."""

    site: str
    code: str
    sample: str
    point: str
    location: str
    room: str
    outcome: EmOutcome
    count: Decimal
    exceeded_limit: int
    sampled_at: datetime
    recorded_by: str
    recorded_at: datetime
    deviation: str | None = None


@dataclass
class RoomOccupancy:
    """A batch in a room from one time to another, as the MES reports it (`to_at` open)."""

    site: str
    batch: str
    location: str
    from_at: datetime
    to_at: datetime | None
    reported_by: str
    reported_at: datetime
