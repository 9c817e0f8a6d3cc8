"""The rules of environmental monitoring in the plant: site limits only tighten Annex 1, the
version in force at sampling time applies, runs of alerts, and an excursion's impact window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from labgate.domain.em_limits import (
    TABLE_6,
    CleanroomGrade,
    EmOutcome,
    EmSampleType,
    OperationalState,
)
from labgate.domain.em_monitoring import (
    EmSiteLimit,
    Frequency,
)
from labgate.domain.em_rules import (
    ImpactWindow,
    check_points,
    check_site_limit,
    impact_window,
    limits_in_force,
    overlaps,
    trailing_alerts,
)
from labgate.domain.errors import InvalidInput

T0 = datetime(2026, 11, 1, tzinfo=UTC)
B, OP, SETTLE = CleanroomGrade.B, OperationalState.IN_OPERATION, EmSampleType.SETTLE
DAY = timedelta(days=1)


def version(code: str, start: datetime, alert: int | None, action: int | None = None,
            location: str | None = None) -> EmSiteLimit:  # fmt: skip
    return EmSiteLimit("S1", code, B, OP, SETTLE, location, action, alert, start, "why", "qa", T0)


def test_a_site_may_tighten_an_action_limit_but_never_loosen_it() -> None:
    assert check_site_limit(B, OP, SETTLE, 4, 2).action == 4
    assert check_site_limit(B, OP, SETTLE, 4, 2).source == "site"
    with pytest.raises(InvalidInput) as looser:
        check_site_limit(B, OP, SETTLE, 6, None)
    assert (looser.value.reason, looser.value.field) == ("em.action_loosened", "action")


def test_the_alert_level_must_be_below_the_action_limit_in_force() -> None:
    with pytest.raises(InvalidInput) as equal:
        check_site_limit(B, OP, SETTLE, None, 5)  # Annex 1 grade B settle is 5
    assert equal.value.reason == "em.alert_not_below_action"
    with pytest.raises(InvalidInput):
        check_site_limit(B, OP, SETTLE, 3, 3)  # below Annex 1, but not below the site's 3


def test_a_cell_annex_1_leaves_open_takes_any_site_action_limit() -> None:
    glove_c = check_site_limit(CleanroomGrade.C, OP, EmSampleType.GLOVE, 40, 20)
    assert (glove_c.action, glove_c.source) == (40, "site")


def test_annex_1_applies_until_a_site_version_takes_effect() -> None:
    versions = [version("V1", T0, 3)]
    before = limits_in_force(versions, B, OP, SETTLE, "ROOM-1", T0 - DAY)
    assert (before.cell.action, before.cell.source, before.alert, before.version) == (
        5, TABLE_6, None, None
    )  # fmt: skip
    after = limits_in_force(versions, B, OP, SETTLE, "ROOM-1", T0)
    assert (after.cell.action, after.alert, after.alert_source, after.version) == (
        5, 3, "site", "V1"
    )  # fmt: skip


def test_the_version_in_force_at_sampling_time_is_the_latest_started_one() -> None:
    versions = [version("V1", T0, 3), version("V2", T0 + 10 * DAY, 1, action=4)]
    assert limits_in_force(versions, B, OP, SETTLE, "R", T0 + 5 * DAY).version == "V1"
    later = limits_in_force(versions, B, OP, SETTLE, "R", T0 + 11 * DAY)
    assert (later.version, later.cell.action, later.alert) == ("V2", 4, 1)


def test_a_version_for_the_location_outranks_one_for_every_location() -> None:
    versions = [version("V1", T0, 3, location="ROOM-1"), version("V2", T0 + DAY, 2)]
    assert limits_in_force(versions, B, OP, SETTLE, "ROOM-1", T0 + 2 * DAY).version == "V1"
    assert limits_in_force(versions, B, OP, SETTLE, "ROOM-2", T0 + 2 * DAY).version == "V2"


def test_a_version_of_another_cell_does_not_apply() -> None:
    versions = [version("V1", T0, 3)]
    other = limits_in_force(versions, B, OperationalState.AT_REST, SETTLE, "R", T0 + DAY)
    assert other.version is None


def test_only_the_trailing_run_of_alerts_counts() -> None:
    within, alert = EmOutcome.WITHIN, EmOutcome.ALERT_EXCEEDED
    assert trailing_alerts([alert, alert, within, alert, alert]) == 2
    assert trailing_alerts([alert, EmOutcome.ACTION_EXCEEDED]) == 0
    assert trailing_alerts([]) == 0


def test_the_window_starts_at_the_last_within_sample_and_runs_to_now_while_none_follows() -> None:
    excursion, now = T0 + 10 * DAY, T0 + 12 * DAY
    window = impact_window(excursion, [T0, T0 + 8 * DAY], timedelta(days=7), now)
    assert window == ImpactWindow(T0 + 8 * DAY, now, "last_within_sample", "now")


def test_the_window_ends_at_the_excursion_once_a_later_sample_is_within() -> None:
    excursion = T0 + 10 * DAY
    window = impact_window(excursion, [T0 + 8 * DAY, T0 + 11 * DAY], DAY, T0 + 12 * DAY)
    assert (window.start, window.end, window.end_basis) == (T0 + 8 * DAY, excursion, "excursion")


def test_with_no_within_sample_before_it_the_window_looks_back() -> None:
    excursion = T0 + 10 * DAY
    window = impact_window(excursion, [], timedelta(days=3), T0 + 10 * DAY)
    assert (window.start, window.start_basis) == (T0 + 7 * DAY, "lookback")


def test_a_stay_overlaps_the_window_when_it_touches_it() -> None:
    window = ImpactWindow(T0, T0 + DAY, "lookback", "excursion")
    assert overlaps(window, T0 - DAY, T0)  # left as the window began
    assert overlaps(window, T0 + DAY / 2, None)  # still there
    assert not overlaps(window, T0 - 3 * DAY, T0 - 2 * DAY)
    assert not overlaps(window, T0 + 2 * DAY, None)


def test_frequencies_and_routes() -> None:
    assert Frequency.SHIFT.period == timedelta(hours=8)
    assert Frequency.WEEKLY.period == 7 * DAY
    with pytest.raises(InvalidInput) as repeated:
        check_points(["P1", "P2", "P1"])
    assert repeated.value.reason == "em.route_point_repeated"
    with pytest.raises(InvalidInput):
        check_points([])
