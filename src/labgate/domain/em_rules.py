"""The rules of environmental monitoring: a site limit only tightens Annex 1 and keeps its
alert below the action limit; the version in force at sampling time applies; runs of alerts; an
excursion's impact window. Pure functions over the records of `em_monitoring`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from labgate.domain.em_limits import (
    ANNEX1_2022,
    CleanroomGrade,
    EmLimit,
    EmOutcome,
    EmSampleType,
    OperationalState,
    check_alert_below_action,
)
from labgate.domain.em_monitoring import SITE_SOURCE, EmSiteLimit
from labgate.domain.errors import InvalidInput

# --- the site's limits --------------------------------------------------------------------------


def check_site_limit(
    grade: CleanroomGrade,
    state: OperationalState,
    sample_type: EmSampleType,
    action: int | None,
    alert: int | None,
) -> EmLimit:
    """The cell a site version makes: the Annex 1 action limit may be tightened, never loosened,
    and the alert level must sit below the action limit in force."""
    annex = ANNEX1_2022.limit(grade, state, sample_type)
    if action is not None and annex.action is not None and action > annex.action:
        raise InvalidInput(
            f"The action limit {action} for {annex.describe()} is looser than {annex.source} "
            f"({annex.action}); a site may only tighten it.",
            reason="em.action_loosened",
            field="action",
        )
    applied = annex.action if action is None else action
    source = annex.source if action is None else SITE_SOURCE
    cell = EmLimit(grade, state, sample_type, applied, None, annex.unit, source, annex.notes)
    check_alert_below_action(alert, cell)
    return cell


@dataclass(frozen=True)
class AppliedLimits:
    """The limits a sample is judged by, where each came from, and the site version used."""

    cell: EmLimit
    alert: int | None
    alert_source: str | None
    version: str | None


def limits_in_force(
    versions: Iterable[EmSiteLimit],
    grade: CleanroomGrade,
    state: OperationalState,
    sample_type: EmSampleType,
    location: str,
    at: datetime,
) -> AppliedLimits:
    """Annex 1 unless a site version for this cell is in force at `at`; a version for the
    location outranks one for every location, and the latest effective one wins."""
    annex = ANNEX1_2022.limit(grade, state, sample_type)
    fitting = [
        v
        for v in versions
        if (v.grade, v.state, v.sample_type) == (grade, state, sample_type)
        and v.location in (None, location)
        and v.effective_from <= at
    ]
    if not fitting:
        return AppliedLimits(annex, None, None, None)
    chosen = max(fitting, key=lambda v: (v.location is not None, v.effective_from, v.code))
    cell = check_site_limit(grade, state, sample_type, chosen.action, None)
    alert_source = None if chosen.alert is None else SITE_SOURCE
    return AppliedLimits(cell, chosen.alert, alert_source, chosen.code)


# --- monitoring -------------------------------------------------------------------------------


def trailing_alerts(outcomes: Sequence[EmOutcome]) -> int:
    """How many alert excursions in a row end a point's history (oldest first)."""
    run = 0
    for outcome in reversed(outcomes):
        if outcome is not EmOutcome.ALERT_EXCEEDED:
            break
        run += 1
    return run


@dataclass(frozen=True)
class ImpactWindow:
    """The time an excursion may have affected its room, and what bounds it."""

    start: datetime
    end: datetime
    start_basis: str
    end_basis: str


def impact_window(
    excursion_at: datetime,
    within_times: Iterable[datetime],
    lookback: timedelta,
    now: datetime,
) -> ImpactWindow:
    """From the last within-limit sample at the point before the excursion (else the look-back)
    to the excursion; while no later within-limit sample shows the point back in control, to now."""
    times = list(within_times)
    before = [t for t in times if t < excursion_at]
    later = [t for t in times if t > excursion_at]
    if before:
        start, start_basis = max(before), "last_within_sample"
    else:
        start, start_basis = excursion_at - lookback, "lookback"
    if later:
        return ImpactWindow(start, excursion_at, start_basis, "excursion")
    return ImpactWindow(start, max(now, excursion_at), start_basis, "now")


def overlaps(window: ImpactWindow, start: datetime, end: datetime | None) -> bool:
    """Whether a stay from `start` to `end` (open when None) meets the window."""
    return start <= window.end and (end is None or end >= window.start)


def check_points(points: Sequence[str]) -> None:
    """A route visits each point once, and at least one."""
    if not points:
        raise InvalidInput(
            "A route needs at least one point.", reason="em.route_empty", field="points"
        )
    if len(set(points)) != len(points):
        raise InvalidInput(
            "A route visits each point once; remove the repeated point.",
            reason="em.route_point_repeated",
            field="points",
        )
