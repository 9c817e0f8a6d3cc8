"""Every transition table, move by move: allowed moves pass, every other move is refused."""

from __future__ import annotations

from enum import StrEnum

import pytest

from labgate.domain.errors import InvalidTransition
from labgate.domain.lifecycle import (
    RESULT_LIFECYCLE,
    SAMPLE_LIFECYCLE,
    SPEC_LIFECYCLE,
    TEST_LIFECYCLE,
    ResultStatus,
    SampleStatus,
    SpecStatus,
    TestStatus,
    TransitionTable,
)

EXPECTED: list[tuple[TransitionTable[StrEnum], dict[str, set[str]]]] = [
    (
        SPEC_LIFECYCLE,
        {
            "draft": {"approved", "retired"},
            "approved": {"effective", "retired"},
            "effective": {"retired"},
            "retired": set(),
        },
    ),
    (
        SAMPLE_LIFECYCLE,
        {
            "requested": {"registered", "cancelled"},
            "registered": {"in_testing", "cancelled"},
            "in_testing": {"completed", "cancelled"},
            "completed": {"in_testing"},
            "cancelled": set(),
        },
    ),
    (
        TEST_LIFECYCLE,
        {
            "planned": {"in_progress", "cancelled"},
            "in_progress": {"completed", "cancelled"},
            "completed": {"in_progress"},
            "cancelled": set(),
        },
    ),
    (
        RESULT_LIFECYCLE,
        {
            "preliminary": {"approved", "invalidated"},
            "approved": {"invalidated"},
            "invalidated": set(),
        },
    ),
]
ENUMS: dict[str, type[StrEnum]] = {
    "specification version": SpecStatus,
    "sample": SampleStatus,
    "test": TestStatus,
    "result": ResultStatus,
}


def all_moves() -> list[tuple[TransitionTable[StrEnum], StrEnum, StrEnum, bool]]:
    moves = []
    for table, allowed in EXPECTED:
        kind = ENUMS[table.record]
        for current in kind:
            for target in kind:
                moves.append((table, current, target, target.value in allowed[current.value]))
    return moves


@pytest.mark.parametrize(
    ("table", "current", "target", "legal"),
    all_moves(),
    ids=lambda v: getattr(v, "value", getattr(v, "record", str(v))),
)
@pytest.mark.requirement("URS-P11-11.10f", category="boundary")
def test_each_move_is_allowed_exactly_when_the_table_says(
    table: TransitionTable[StrEnum], current: StrEnum, target: StrEnum, legal: bool
) -> None:
    if legal:
        table.check("X-1", current, target)
        return
    with pytest.raises(InvalidTransition) as refused:
        table.check("X-1", current, target)
    message = refused.value.message
    assert f"from {current.value} to {target.value}" in message
    for option in table.allowed(current):
        assert option.value in message
    assert refused.value.reason.endswith(".invalid_transition")


def test_a_final_status_says_so() -> None:
    with pytest.raises(InvalidTransition, match=r"none \(final\)"):
        RESULT_LIFECYCLE.check("R-1", ResultStatus.INVALIDATED, ResultStatus.APPROVED)


def test_the_message_reads_like_a_sentence() -> None:
    with pytest.raises(InvalidTransition) as refused:
        SAMPLE_LIFECYCLE.check("S-000012", SampleStatus.REQUESTED, SampleStatus.COMPLETED)
    assert refused.value.message == (
        "Cannot move sample S-000012 from requested to completed; "
        "allowed moves from requested: cancelled, registered."
    )
