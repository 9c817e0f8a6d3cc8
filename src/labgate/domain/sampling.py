"""Sampling plans and limit sets: which tests a sample at a sampling point gets, judged by which
of its specification version's limit sets.

A specification version carries named limit sets: `release` (the specification's own limits,
what the CoA certifies) and any others the plant needs, e.g. `IPC` for in-process controls
(dried granulate: water NMT 2.0 % while release allows 2.5 %). A sampling plan of that version
names, for one sampling point, its tests and the limit set they are judged by. The plans are
part of the version, so they are approved with it under one e-signature, and a sample binds the
plan of the version in force when it was taken (promise 7).

Which plan a request gets:
- no sampling point (native lab, stability pull, received lot): the release set, whole panel;
- a point the version has a plan for: that plan;
- a release point without a plan: the release set, whole panel (a release sample is exactly
  that);
- any other point without a plan: refused (`sampling_plan.none_for_point`); an IPC sample is
  never planned for the release panel by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from labgate.domain.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from labgate.domain.batches import SamplingPoint

RELEASE_SET = "release"
RELEASE_SAMPLE_TYPE = "release"


@dataclass
class SamplingPlan:
    """Per sampling point of a specification version: its tests and the limit set they meet."""

    sampling_point: str
    limit_set: str
    tests: list[str] = field(default_factory=list)


class _LimitLine(Protocol):
    @property
    def test_code(self) -> str: ...


class SpecVersion(Protocol):
    """What planning reads of a specification version (masterdata.SpecVersion is one); a
    protocol, so that master data may import this module and not the other way round."""

    @property
    def specification(self) -> str: ...
    @property
    def ref(self) -> str: ...
    @property
    def plans(self) -> Sequence[SamplingPlan]: ...
    def lines_of(self, limit_set: str) -> Sequence[_LimitLine]: ...


@dataclass(frozen=True)
class BoundPlan:
    """What a sample is planned for: the limit set and its tests, in plan order."""

    limit_set: str
    tests: tuple[str, ...]


def check_plans(spec: SpecVersion, field_prefix: str = "sampling_plans") -> None:
    """Every plan names tests, each once, each with a line in the plan's limit set; one plan
    per sampling point."""
    seen: set[str] = set()
    for i, plan in enumerate(spec.plans):
        at = f"{field_prefix}[{i}]"
        if plan.sampling_point in seen:
            raise InvalidInput(
                f"{at} repeats sampling point {plan.sampling_point}; {spec.ref} has one plan per "
                "sampling point.",
                reason="sampling_plan.duplicate_point",
                field=f"{at}.sampling_point",
            )
        seen.add(plan.sampling_point)
        _check_tests(spec, plan, at)


def _check_tests(spec: SpecVersion, plan: SamplingPlan, at: str) -> None:
    if not plan.tests:
        raise InvalidInput(
            f"{at} plans no tests at {plan.sampling_point}; name at least one.",
            reason="sampling_plan.no_tests",
            field=f"{at}.tests",
        )
    in_set = {line.test_code for line in spec.lines_of(plan.limit_set)}
    for j, test in enumerate(plan.tests):
        if plan.tests.index(test) != j:
            raise InvalidInput(
                f"{at}.tests names {test} twice.",
                reason="sampling_plan.duplicate_test",
                field=f"{at}.tests[{j}]",
            )
        if test not in in_set:
            raise InvalidInput(
                f"{at}.tests[{j}] is {test}, but limit set {plan.limit_set!r} of {spec.ref} has "
                f"no line for it ({', '.join(sorted(in_set)) or 'no lines'}); a planned test "
                "needs a limit in the set it is judged by.",
                reason="sampling_plan.test_without_limit",
                field=f"{at}.tests[{j}]",
            )


def plan_at(spec: SpecVersion, point: SamplingPoint | None) -> BoundPlan:
    """The plan a sample at `point` (None: no point) binds, by the rules in the docstring."""
    if point is not None:
        plan = next((p for p in spec.plans if p.sampling_point == point.code), None)
        if plan is not None:
            return BoundPlan(plan.limit_set, tuple(plan.tests))
        if point.sample_type != RELEASE_SAMPLE_TYPE:
            raise Conflict(
                f"Specification {spec.ref} has no sampling plan for {point.sample_type} sampling "
                f"point {point.code}; the point's tests and limit set are unknown, and an "
                "in-process sample is never planned for the release panel. Add a plan for "
                f"{point.code} in a new version of {spec.specification}.",
                reason="sampling_plan.none_for_point",
                field="sampling_point",
            )
    return release_panel(spec)


def release_panel(spec: SpecVersion) -> BoundPlan:
    """Every test of the version's release limit set."""
    tests = tuple(line.test_code for line in spec.lines_of(RELEASE_SET))
    if not tests:
        raise Conflict(
            f"Specification {spec.ref} has no release limits; a sample without an IPC plan is "
            "judged by the release set.",
            reason="sampling_plan.no_release_set",
            field="sampling_point",
        )
    return BoundPlan(RELEASE_SET, tests)
