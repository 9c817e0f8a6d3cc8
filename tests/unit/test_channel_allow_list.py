"""The channel allow-list's rules, pure: the proposal's shape, the comparison per channel (a
channel not named carries every type) and which approved version is in force at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from labgate.domain.change_control import ChangeKind, check_proposal
from labgate.domain.channel_allow_list import (
    AllowListSchedule,
    differences,
    unknown_schemas,
)
from labgate.domain.errors import InvalidInput

EVERY = ("labgate.result.v1", "labgate.sample_request.v1")
T0 = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.requirement("URS-A11-10", category="positive")
def test_a_proposal_is_kept_sorted_and_its_kind_known() -> None:
    kind, proposal = check_proposal(
        "channel_allow_list", {"channels": {"rest": ["labgate.sample_request.v1",
                                                     "labgate.result.v1"], "amqp": []}}
    )  # fmt: skip
    assert kind is ChangeKind.CHANNEL_ALLOW_LIST
    assert proposal == {"channels": {"amqp": [], "rest": list(EVERY)}}


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_an_unknown_schema_is_refused_naming_its_place() -> None:
    with pytest.raises(InvalidInput) as refused:
        unknown_schemas({"channels": {"mqtt": ["labgate.result.v1", "labgate.result.v2"]}}, EVERY)
    assert (refused.value.field, refused.value.reason) == (
        "proposal.channels.mqtt[1]", "change.invalid_proposal",
    )  # fmt: skip


@pytest.mark.requirement("URS-A11-10", category="boundary")
def test_naming_a_channel_with_every_type_still_counts_as_a_change_of_its_restriction() -> None:
    rows = differences({}, {"rest": frozenset(EVERY)}, EVERY)
    assert rows == [{"channel": "rest", "added": [], "removed": [], "carries": list(EVERY),
                     "restricted": True}]  # fmt: skip
    back = differences({"rest": frozenset({"labgate.result.v1"})}, {}, EVERY)
    assert back[0]["added"] == ["labgate.sample_request.v1"] and not back[0]["restricted"]
    assert differences({}, {}, EVERY) == []


@pytest.mark.requirement("URS-A11-10", category="boundary")
def test_the_version_in_force_is_the_latest_whose_date_has_come() -> None:
    one, two = {"rest": frozenset({"labgate.result.v1"})}, {"rest": frozenset()}
    schedule = AllowListSchedule(((T0, 1, one), (T0 + timedelta(hours=1), 2, two)))
    assert schedule.in_force(T0 - timedelta(microseconds=1)) is None  # the setting holds
    assert schedule.in_force(T0) == (1, one)
    assert schedule.in_force(T0 + timedelta(hours=1)) == (2, two)
    same_date = AllowListSchedule(((T0, 3, two), (T0, 2, one)))
    assert same_date.in_force(T0) == (3, two)
