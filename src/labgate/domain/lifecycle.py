"""Lifecycles as enums plus transition tables: the one place that says which moves are legal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from labgate.domain.errors import InvalidTransition

S = TypeVar("S", bound=StrEnum)


class SpecStatus(StrEnum):
    """Specification version lifecycle (guide §07)."""

    DRAFT = "draft"
    APPROVED = "approved"
    EFFECTIVE = "effective"
    RETIRED = "retired"


class SampleStatus(StrEnum):
    """Where a sample is between the MES request and its last reviewed result."""

    REQUESTED = "requested"
    REGISTERED = "registered"
    IN_TESTING = "in_testing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TestStatus(StrEnum):
    """A planned test on a sample."""

    __test__ = False  # not a pytest class, despite the name

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ResultStatus(StrEnum):
    """The lab's status of one result (guide §05)."""

    PRELIMINARY = "preliminary"
    APPROVED = "approved"
    INVALIDATED = "invalidated"


@dataclass(frozen=True)
class TransitionTable(Generic[S]):
    """Allowed moves per status; `check` raises a sentence that lists what is allowed instead."""

    record: str
    moves: Mapping[S, frozenset[S]]

    def allowed(self, current: S) -> frozenset[S]:
        """The statuses reachable in one move from `current`."""
        return self.moves.get(current, frozenset())

    def check(self, record_id: str, current: S, target: S) -> None:
        """Raise InvalidTransition unless `current -> target` is in the table."""
        if target in self.allowed(current):
            return
        options = ", ".join(sorted(s.value for s in self.allowed(current))) or "none (final)"
        raise InvalidTransition(
            f"Cannot move {self.record} {record_id} from {current.value} to {target.value}; "
            f"allowed moves from {current.value}: {options}.",
            reason=f"{self.record.replace(' ', '_')}.invalid_transition",
            field="status",
        )


def _table(record: str, moves: dict[S, set[S]]) -> TransitionTable[S]:
    return TransitionTable(record, {k: frozenset(v) for k, v in moves.items()})


SPEC_LIFECYCLE = _table(
    "specification version",
    {
        SpecStatus.DRAFT: {SpecStatus.APPROVED, SpecStatus.RETIRED},
        SpecStatus.APPROVED: {SpecStatus.EFFECTIVE, SpecStatus.RETIRED},
        SpecStatus.EFFECTIVE: {SpecStatus.RETIRED},
        SpecStatus.RETIRED: set(),
    },
)

SAMPLE_LIFECYCLE = _table(
    "sample",
    {
        SampleStatus.REQUESTED: {SampleStatus.REGISTERED, SampleStatus.CANCELLED},
        SampleStatus.REGISTERED: {SampleStatus.IN_TESTING, SampleStatus.CANCELLED},
        SampleStatus.IN_TESTING: {SampleStatus.COMPLETED, SampleStatus.CANCELLED},
        # An invalidated result reopens a completed sample for its retest.
        SampleStatus.COMPLETED: {SampleStatus.IN_TESTING},
        SampleStatus.CANCELLED: set(),
    },
)

TEST_LIFECYCLE = _table(
    "test",
    {
        TestStatus.PLANNED: {TestStatus.IN_PROGRESS, TestStatus.CANCELLED},
        TestStatus.IN_PROGRESS: {TestStatus.COMPLETED, TestStatus.CANCELLED},
        TestStatus.COMPLETED: {TestStatus.IN_PROGRESS},
        TestStatus.CANCELLED: set(),
    },
)

RESULT_LIFECYCLE = _table(
    "result",
    {
        ResultStatus.PRELIMINARY: {ResultStatus.APPROVED, ResultStatus.INVALIDATED},
        ResultStatus.APPROVED: {ResultStatus.INVALIDATED},
        ResultStatus.INVALIDATED: set(),
    },
)
