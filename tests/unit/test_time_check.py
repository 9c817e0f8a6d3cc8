"""A clock reading judged against the threshold, and what of it the audit trail records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from labgate.adapters.clock.ntp import server_address
from labgate.compliance.time_check import (
    ClockState,
    ClockStatus,
    audited_action,
    judged,
    unreachable,
)

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.requirement("URS-P11-11.10e", category="boundary")
def test_within_the_threshold_is_ok_beyond_it_drift_on_either_side() -> None:
    assert judged("ntp", AT, 500, 0.4999, 0.001).status is ClockStatus.OK
    assert judged("ntp", AT, 500, -0.5, 0.001).status is ClockStatus.OK  # at the limit: allowed
    ahead = judged("ntp", AT, 500, -0.7504, 0.002)
    behind = judged("ntp", AT, 500, 2.0, 0.002)
    assert (ahead.status, ahead.offset_ms, ahead.delay_ms) == (ClockStatus.DRIFT, -750.4, 2.0)
    assert "750.4 ms ahead of ntp" in ahead.detail and "500 ms allowed" in ahead.detail
    assert behind.status is ClockStatus.DRIFT and "2000.0 ms behind ntp" in behind.detail


def test_no_answer_is_its_own_status_with_the_reason() -> None:
    check = unreachable("ntp.plant", AT, 500, "timed out")
    assert check.status is ClockStatus.UNREACHABLE and check.offset_ms is None
    assert "No answer from ntp.plant: timed out" in check.detail


@pytest.mark.parametrize(
    ("before", "now", "action"),
    [
        (None, ClockStatus.OK, None),  # the first check, fine: history only
        (ClockStatus.OK, ClockStatus.OK, None),
        (ClockStatus.OK, ClockStatus.DRIFT, "clock.drift"),
        (ClockStatus.DRIFT, ClockStatus.DRIFT, "clock.drift"),  # every check while it lasts
        (ClockStatus.DRIFT, ClockStatus.OK, "clock.recovered"),
        (ClockStatus.UNREACHABLE, ClockStatus.OK, "clock.recovered"),
        (None, ClockStatus.UNREACHABLE, "clock.unreachable"),
    ],
)
def test_what_is_audited(before: ClockStatus | None, now: ClockStatus, action: str | None) -> None:
    state = None if before is None else ClockState("ntp", before, AT, AT)
    offset = {ClockStatus.OK: 0.0, ClockStatus.DRIFT: 9.0}.get(now)
    check = (
        unreachable("ntp", AT, 500, "no") if offset is None else judged("ntp", AT, 500, offset, 0.0)
    )
    assert audited_action(check, state) == action


@pytest.mark.parametrize(
    ("given", "address"),
    [
        ("ntp.plant", ("ntp.plant", 123)),
        ("ntp.plant:1123", ("ntp.plant", 1123)),
        ("10.0.0.5", ("10.0.0.5", 123)),
        ("[fd00::5]:1123", ("fd00::5", 1123)),
        ("[fd00::5]", ("fd00::5", 123)),
        ("fd00::5", ("fd00::5", 123)),  # a bare IPv6 address: its colons are not a port
    ],
)
def test_server_addresses(given: str, address: tuple[str, int]) -> None:
    assert server_address(given) == address
