"""Stability studies (ICH Q1A(R2)): a batch stored under conditions and pulled on a schedule.

A study's protocol names its storage conditions, its time points (months from t=0), the tests
pulled at each point with their acceptance criteria, and a window (± days) around each due date.
QA approves the protocol (an e-signature, never the author's own); from then on each
(condition, time point) is pulled once, creating the sample the normal result flow tests.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from labgate.domain.errors import Conflict, InvalidInput, NotFound, SegregationOfDuties
from labgate.domain.lifecycle import TransitionTable
from labgate.domain.limits import LimitKind, parse_limit
from labgate.domain.reasons import require_reason

# `25C/60%RH`, `40C/75%RH`, `5C`, `-20C`: temperature, and relative humidity when controlled.
CONDITION = re.compile(r"-?\d{1,2}C(/\d{1,2}%RH)?")
MAX_MONTHS = 120


class StudyStatus(StrEnum):
    """Draft until QA approves the protocol; then active until completed or cancelled."""

    DRAFT = "draft"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


S = StudyStatus
STUDY_LIFECYCLE = TransitionTable(
    "stability study",
    {
        S.DRAFT: frozenset({S.ACTIVE, S.CANCELLED}),
        S.ACTIVE: frozenset({S.COMPLETED, S.CANCELLED}),
    },
)


@dataclass(frozen=True)
class ScheduledPull:
    """One (condition, time point) of the schedule and when it falls due."""

    condition: str
    months: int
    due_at: datetime


@dataclass
class StabilityStudy:
    """A batch on stability under a protocol; criteria are {test: {"lower", "upper"}} as text."""

    site: str
    code: str
    product: str
    batch: str
    conditions: list[str]  # the first is the long-term condition
    time_points: dict[str, list[int]]  # per condition: accelerated ones stop earlier
    tests: list[str]
    criteria: dict[str, dict[str, str | None]]
    start_at: datetime
    window_days: int
    author: str
    created_at: datetime
    status: StudyStatus = StudyStatus.DRAFT
    approver: str | None = None
    approved_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None

    def approve(self, approver: str, at: datetime) -> None:
        """QA approves the protocol; the author may not approve their own (SoD)."""
        if approver == self.author:
            raise SegregationOfDuties(
                f"{approver} wrote the protocol of study {self.code} and cannot also approve it.",
                reason="stability.approver_is_author",
                field="signature.username",
            )
        STUDY_LIFECYCLE.check(self.code, self.status, StudyStatus.ACTIVE)
        self.status, self.approver, self.approved_at = StudyStatus.ACTIVE, approver, at

    def close(self, target: StudyStatus, by: str, at: datetime, reason: str) -> None:
        """Complete or cancel, with a reason."""
        reason = require_reason(reason, what="Closing a study")
        STUDY_LIFECYCLE.check(self.code, self.status, target)
        self.status, self.closed_by, self.closed_at, self.close_reason = target, by, at, reason

    def schedule(self) -> list[ScheduledPull]:
        """One pull per (condition, time point), due at start + months."""
        return [
            ScheduledPull(condition, months, add_months(self.start_at, months))
            for condition in self.conditions
            for months in self.time_points[condition]
        ]

    def scheduled(self, condition: str, months: int) -> ScheduledPull:
        """The pull of the schedule at (condition, months), or NotFound."""
        for pull in self.schedule():
            if (pull.condition, pull.months) == (condition, months):
                return pull
        raise NotFound(
            f"Study {self.code} has no pull at {condition}, {months} months; its schedule is "
            f"{self.time_points}.",
            reason="stability.pull_not_scheduled",
            field="time_point",
        )


@dataclass
class StabilityPull:
    """A pull done: the sample it created, when and by whom; a reason if outside the window."""

    site: str
    study: str
    product: str
    batch: str
    condition: str
    months: int
    due_at: datetime
    sample: str
    pulled_at: datetime
    pulled_by: str
    window_reason: str | None = None


def add_months(start: datetime, months: int) -> datetime:
    """The same day `months` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def check_pull(
    study: StabilityStudy,
    pull: ScheduledPull,
    done: Sequence[StabilityPull],
    at: datetime,
    reason: str | None,
) -> None:
    """A pull of an active study, once, inside its window unless a reason says why not."""
    if study.status is not StudyStatus.ACTIVE:
        raise Conflict(
            f"Study {study.code} is {study.status.value}; only an active study (protocol "
            "approved by QA) is pulled.",
            reason="stability.study_not_active",
            field="study",
        )
    if any((p.condition, p.months) == (pull.condition, pull.months) for p in done):
        raise Conflict(
            f"The {pull.months}-month pull at {pull.condition} of study {study.code} was already "
            "done; a pull is done once.",
            reason="stability.already_pulled",
            field="time_point",
        )
    late = outside_window(pull, at, study.window_days)
    if late and not (reason or "").strip():
        raise InvalidInput(
            f"The {pull.months}-month pull at {pull.condition} is due on "
            f"{pull.due_at.date().isoformat()} ± {study.window_days} days; pulling on "
            f"{at.date().isoformat()} needs a reason.",
            reason="stability.pull_outside_window",
            field="reason",
        )
    if late:
        require_reason(reason, what="A pull outside its window")


def outside_window(pull: ScheduledPull, at: datetime, window_days: int) -> bool:
    """Earlier or later than the due date by more than the protocol's window."""
    return abs(at - pull.due_at) > timedelta(days=window_days)


def criteria_from(
    tests: Sequence[str],
    stated: dict[str, tuple[str | None, str | None]],
    spec_limits: dict[str, str],
) -> dict[str, dict[str, str | None]]:
    """Each test's criterion: as stated in the protocol, else from the spec's numeric limit."""
    unpulled = sorted(set(stated) - set(tests))
    if unpulled:
        raise InvalidInput(
            f"Criteria are stated for {', '.join(unpulled)}, which the study does not pull; "
            "state criteria only for the study's tests.",
            reason="stability.criterion_not_pulled",
            field="criteria",
        )
    criteria: dict[str, dict[str, str | None]] = {}
    for test in tests:
        lower, upper = stated.get(test) or _from_limit(test, spec_limits)
        if lower is None and upper is None:
            raise InvalidInput(
                f"Test {test} has no numeric acceptance criterion: state lower and/or upper in "
                "the protocol, or trend a test with an NLT, NMT or range limit.",
                reason="stability.criterion_missing",
                field="criteria",
            )
        if lower is not None and upper is not None and Decimal(lower) >= Decimal(upper):
            raise InvalidInput(
                f"The criterion of {test} has its lower limit {lower} not below its upper {upper}.",
                reason="stability.criterion_inverted",
                field="criteria",
            )
        criteria[test] = {"lower": lower, "upper": upper}
    return criteria


def _from_limit(test: str, spec_limits: dict[str, str]) -> tuple[str | None, str | None]:
    if test not in spec_limits:
        raise InvalidInput(
            f"Test {test} is not in the product's specification; trend tests of it: "
            f"{', '.join(sorted(spec_limits))}.",
            reason="stability.test_not_in_spec",
            field="tests",
        )
    limit = parse_limit(spec_limits[test])
    if limit.kind in (LimitKind.CONFORMS_TEXT, LimitKind.EQUALS):
        return None, None
    return (
        None if limit.low is None else str(limit.low),
        None if limit.high is None else str(limit.high),
    )


def check_protocol(schedule: Sequence[tuple[str, Sequence[int]]], window_days: int) -> None:
    """Conditions written like 25C/60%RH, each with distinct months from 0, a sane window."""
    conditions = [condition for condition, _ in schedule]
    if not conditions or len(set(conditions)) != len(conditions):
        raise InvalidInput(
            "Name each storage condition once, e.g. 25C/60%RH and 40C/75%RH.",
            reason="stability.conditions_invalid",
            field="conditions",
        )
    for condition in conditions:
        if not CONDITION.fullmatch(condition):
            raise InvalidInput(
                f"Storage condition {condition!r} is not written like 25C/60%RH or 5C.",
                reason="stability.condition_format",
                field="conditions",
            )
    for _, time_points in schedule:
        _check_time_points(time_points)
    if not 0 <= window_days <= 60:
        raise InvalidInput(
            "The pull window is 0 to 60 days either side of the due date.",
            reason="stability.window_range",
            field="window_days",
        )


def _check_time_points(time_points: Sequence[int]) -> None:
    if not time_points or sorted(set(time_points)) != list(time_points):
        raise InvalidInput(
            "Time points are distinct months in increasing order, e.g. 0, 3, 6, 9, 12.",
            reason="stability.time_points_order",
            field="time_points",
        )
    if time_points[0] < 0 or time_points[-1] > MAX_MONTHS:
        raise InvalidInput(
            f"Time points lie between 0 and {MAX_MONTHS} months.",
            reason="stability.time_points_range",
            field="time_points",
        )


def study_content(study: StabilityStudy) -> dict[str, object]:
    """What QA's approval signature binds to: the protocol as written."""
    return {
        "site": study.site,
        "study": study.code,
        "product": study.product,
        "batch": study.batch,
        "conditions": list(study.conditions),
        "time_points": {c: list(months) for c, months in study.time_points.items()},
        "tests": list(study.tests),
        "criteria": study.criteria,
        "start_at": study.start_at,
        "window_days": study.window_days,
        "author": study.author,
    }


def closure_content(study: StabilityStudy) -> dict[str, object]:
    """What a signed cancellation binds to: the protocol, and who closed it, when and why."""
    return study_content(study) | {
        "status": study.status.value,
        "closed_by": study.closed_by,
        "closed_at": study.closed_at,
        "close_reason": study.close_reason,
    }


@dataclass
class Pulled:
    """What a `pull due` run did: pulls made, and pulls it left for a person (with why)."""

    pulled: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
