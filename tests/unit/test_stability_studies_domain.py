"""Stability studies in the domain: the schedule, the pull rules, the protocol's lifecycle and
criteria, and OOT alerts' acknowledgement. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from labgate.domain.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    SegregationOfDuties,
)
from labgate.domain.stability import (
    StabilityPull,
    StabilityStudy,
    StudyStatus,
    add_months,
    check_protocol,
    check_pull,
    criteria_from,
)
from labgate.domain.trending import AlertStatus, OotAlert

START = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)
LONG, ACCELERATED = "25C/60%RH", "40C/75%RH"


def study(**change: object) -> StabilityStudy:
    made = StabilityStudy(
        "S1",
        "STAB-00001",
        "P1",
        "B1",
        [LONG, ACCELERATED],
        {LONG: [0, 3, 6, 12], ACCELERATED: [0, 6]},
        ["ASSAY"],
        {"ASSAY": {"lower": "95.0", "upper": None}},
        START,
        7,
        "author",
        START,
    )
    for name, value in change.items():
        setattr(made, name, value)
    return made


def pulled(months: int, condition: str = LONG) -> StabilityPull:
    due = add_months(START, months)
    return StabilityPull("S1", "STAB-00001", "P1", "B1", condition, months, due, "S-1", due, "a")


def test_months_are_added_on_the_calendar_clamped_to_the_month_end() -> None:
    assert add_months(START, 1) == datetime(2026, 2, 28, 8, 0, tzinfo=UTC)
    assert add_months(START, 12) == datetime(2027, 1, 31, 8, 0, tzinfo=UTC)
    assert add_months(START, 25) == datetime(2028, 2, 29, 8, 0, tzinfo=UTC)  # leap year


def test_the_schedule_has_one_pull_per_condition_and_its_own_time_points() -> None:
    schedule = study().schedule()
    assert [(p.condition, p.months) for p in schedule] == [
        (LONG, 0),
        (LONG, 3),
        (LONG, 6),
        (LONG, 12),
        (ACCELERATED, 0),
        (ACCELERATED, 6),
    ]
    assert schedule[2].due_at == datetime(2026, 7, 31, 8, 0, tzinfo=UTC)
    with pytest.raises(NotFound) as refused:
        study().scheduled(ACCELERATED, 3)
    assert refused.value.reason == "stability.pull_not_scheduled"


def test_the_author_cannot_approve_the_protocol_and_approval_activates_it_once() -> None:
    draft = study()
    with pytest.raises(SegregationOfDuties) as refused:
        draft.approve("author", START)
    assert refused.value.reason == "stability.approver_is_author"
    draft.approve("qa", START)
    assert (draft.status, draft.approver) == (StudyStatus.ACTIVE, "qa")
    with pytest.raises(InvalidTransition):
        draft.approve("qa2", START)


def test_closing_needs_a_reason_and_a_closed_study_stays_closed() -> None:
    active = study(status=StudyStatus.ACTIVE)
    with pytest.raises(InvalidInput):
        active.close(StudyStatus.COMPLETED, "qa", START, " ")
    active.close(StudyStatus.COMPLETED, "qa", START, "all pulls done")
    with pytest.raises(InvalidTransition):
        active.close(StudyStatus.CANCELLED, "qa", START, "no longer needed")
    with pytest.raises(InvalidTransition):
        study().close(StudyStatus.COMPLETED, "qa", START, "never started")


def test_only_an_active_study_is_pulled_and_each_pull_once() -> None:
    due = study().scheduled(LONG, 3)
    with pytest.raises(Conflict) as refused:
        check_pull(study(), due, [], due.due_at, None)
    assert refused.value.reason == "stability.study_not_active"
    active = study(status=StudyStatus.ACTIVE)
    check_pull(active, due, [pulled(0), pulled(3, ACCELERATED)], due.due_at, None)
    with pytest.raises(Conflict) as twice:
        check_pull(active, due, [pulled(3)], due.due_at, None)
    assert twice.value.reason == "stability.already_pulled"


@pytest.mark.parametrize(("days", "allowed"), [(-7, True), (7, True), (-8, False), (8, False)])
def test_outside_the_window_a_pull_needs_a_reason(days: int, allowed: bool) -> None:
    active = study(status=StudyStatus.ACTIVE)
    due = active.scheduled(LONG, 6)
    at = due.due_at + timedelta(days=days)
    if allowed:
        check_pull(active, due, [], at, None)
    else:
        with pytest.raises(InvalidInput) as refused:
            check_pull(active, due, [], at, "  ")
        assert (refused.value.reason, refused.value.field) == (
            "stability.pull_outside_window",
            "reason",
        )
    check_pull(active, due, [], at, "chamber breakdown")  # with a reason, always


def test_criteria_come_from_the_spec_unless_stated() -> None:
    limits = {"ASSAY": "95.0-105.0", "IMP": "NMT 0.5", "APP": "CONFORMS: White"}
    assert criteria_from(["ASSAY", "IMP"], {}, limits) == {
        "ASSAY": {"lower": "95.0", "upper": "105.0"},
        "IMP": {"lower": None, "upper": "0.5"},
    }
    stated = criteria_from(["ASSAY"], {"ASSAY": ("90.0", None)}, limits)
    assert stated == {"ASSAY": {"lower": "90.0", "upper": None}}
    for tests, stated_, reason in (
        (["APP"], {}, "stability.criterion_missing"),
        (["NOPE"], {}, "stability.test_not_in_spec"),
        (["ASSAY"], {"ASSAY": ("101", "99")}, "stability.criterion_inverted"),
        (["ASSAY"], {"IMP": ("0", "1")}, "stability.criterion_not_pulled"),
    ):
        with pytest.raises(InvalidInput) as refused:
            criteria_from(tests, stated_, limits)
        assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("schedule", "window", "reason"),
    [
        ([], 7, "stability.conditions_invalid"),
        ([(LONG, [0]), (LONG, [3])], 7, "stability.conditions_invalid"),
        ([("25 C", [0])], 7, "stability.condition_format"),
        ([(LONG, [0, 6, 3])], 7, "stability.time_points_order"),
        ([(LONG, [0, 0])], 7, "stability.time_points_order"),
        ([(LONG, [-3, 0])], 7, "stability.time_points_range"),
        ([(LONG, [0, 3])], 90, "stability.window_range"),
    ],
)
def test_a_bad_protocol_is_refused(
    schedule: list[tuple[str, list[int]]], window: int, reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_protocol(schedule, window)
    assert refused.value.reason == reason


def alert() -> OotAlert:
    d = Decimal
    return OotAlert(
        "S1",
        "OOT-000001",
        "stability",
        "S-1-R1",
        "S-1",
        "B3",
        "ASSAY",
        "P1 ASSAY",
        d(12),
        d("97.4"),
        d("99.2"),
        d("98.7"),
        d("99.6"),
        d("0.01"),
        "m",
        11,
        START,
        "rev",
        "ana",
    )


def test_an_alert_is_assessed_once_by_someone_other_than_the_analyst() -> None:
    raised = alert()
    with pytest.raises(SegregationOfDuties):
        raised.acknowledge("ana", START, "looks fine")
    with pytest.raises(InvalidInput):
        raised.acknowledge("rev", START, " ")
    raised.acknowledge("rev", START, "sampling error ruled out; trend watched")
    assert (raised.status, raised.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, "rev")
    with pytest.raises(Conflict):
        raised.acknowledge("qa", START, "assessed again")
