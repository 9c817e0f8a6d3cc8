"""The trace matrix (requirement -> configuration and code -> executed tests) and the pack's
verdict: every requirement must have tests, they must have passed, and the passed tests must
cover the categories its risk priority asks for (risk.REQUIRED_CATEGORIES)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from labgate.service.validation.evidence import ExecutedTest, Outcome, TestRun
from labgate.service.validation.requirements import Requirement


class Status(StrEnum):
    """Where a requirement stands after the run."""

    VERIFIED = "verified"  # tests ran, none failed, their categories make the depth asked for
    SHALLOW = "shallow"  # tests ran, none failed, but a category the priority asks for is missing
    FAILED = "failed"  # a test failed
    NOT_RUN = "not_run"  # every test was skipped
    GAP = "gap"  # no test carries its id
    NOT_APPLICABLE = "not_applicable"  # the clause does not apply; the URS says why


@dataclass(frozen=True)
class TraceRow:
    """One requirement with the tests that verify it and their verdict."""

    requirement: Requirement
    tests: tuple[ExecutedTest, ...]

    @property
    def status(self) -> Status:
        """The requirement's verdict from its tests' outcomes."""
        outcomes = {test.outcome for test in self.tests}
        if not outcomes:
            return Status.NOT_APPLICABLE if self.requirement.not_applicable else Status.GAP
        if Outcome.FAILED in outcomes:
            return Status.FAILED
        if Outcome.PASSED not in outcomes:
            return Status.NOT_RUN
        return Status.SHALLOW if self.missing_categories else Status.VERIFIED

    @property
    def required_categories(self) -> tuple[str, ...]:
        """The categories its risk priority asks for."""
        return self.requirement.risk.required_categories

    @property
    def missing_categories(self) -> tuple[str, ...]:
        """The required categories no passed test of it has (a skipped test verifies nothing);
        none for a clause that does not apply."""
        if self.requirement.not_applicable and not self.tests:
            return ()
        passed = {test.category for test in self.tests if test.outcome is Outcome.PASSED}
        return tuple(c for c in self.required_categories if c not in passed)

    @property
    def why(self) -> str:
        """Why this row fails the pack, in a few words."""
        if self.status is Status.SHALLOW:
            return (
                f"verified, but not to the depth its risk asks (priority "
                f"{self.requirement.risk.priority.value}): missing "
                f"{', '.join(self.missing_categories)}"
            )
        return _WHY[self.status]

    def as_record(self) -> dict[str, object]:
        """The row as trace.json lists it."""
        return {
            "requirement": self.requirement.id,
            "title": self.requirement.title,
            "priority": self.requirement.risk.priority.value,
            "implemented_by": list(self.requirement.implemented_by),
            "tests": [test.test for test in self.tests],
            "categories": sorted({test.category for test in self.tests}),
            "required_categories": list(self.required_categories),
            "missing_categories": list(self.missing_categories),
            "status": self.status.value,
            "not_applicable": self.requirement.not_applicable or None,
        }


@dataclass(frozen=True)
class Trace:
    """The trace matrix of one run, and the ids tests named that the URS does not have."""

    rows: tuple[TraceRow, ...]
    unknown_ids: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        """Why the pack fails, one sentence each; empty when it passes."""
        found = [
            f"{row.requirement.id} ({row.requirement.title}): {row.why}"
            for row in self.rows
            if row.status not in (Status.VERIFIED, Status.NOT_APPLICABLE)
        ]
        found += [f"{name}: tests name this id, which the URS does not have" for name in
                  self.unknown_ids]  # fmt: skip
        return found


_WHY = {
    Status.GAP: "gap: no test carries this requirement id",
    Status.FAILED: "a test of this requirement failed",
    Status.NOT_RUN: "every test of this requirement was skipped",
}


def trace(requirements: Sequence[Requirement], run: TestRun) -> Trace:
    """Each requirement with the executed tests that carry its id."""
    known = {requirement.id for requirement in requirements}
    rows = tuple(
        TraceRow(r, tuple(test for test in run.tests if r.id in test.requirements))
        for r in requirements
    )
    named = {name for test in run.tests for name in test.requirements}
    return Trace(rows, tuple(sorted(named - known)))
