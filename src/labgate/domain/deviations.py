"""Deviations: the OOS investigation a rejected result opens, from phase I to closure with CAPA.

open_phase1 ── assignable_cause ──▶ invalidated (the result is invalidated; a retest follows)
    └──────── no_assignable_cause ─▶ open_phase2 ── confirmed | not_confirmed ─▶ concluded
                                                                 concluded ── QA ─▶ closed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from labgate.domain import events
from labgate.domain.em_monitoring import EM_EXCURSION
from labgate.domain.errors import InvalidInput, SegregationOfDuties
from labgate.domain.lifecycle import TransitionTable
from labgate.domain.reasons import require_reason
from labgate.domain.samples import Result, Sample

E = TypeVar("E", bound=StrEnum)


class DeviationState(StrEnum):
    """Where an investigation stands."""

    OPEN_PHASE1 = "open_phase1"
    OPEN_PHASE2 = "open_phase2"
    CONCLUDED = "concluded"
    INVALIDATED = "invalidated"
    CLOSED = "closed"


class PhaseOneConclusion(StrEnum):
    """The laboratory investigation's finding."""

    ASSIGNABLE_CAUSE = "assignable_cause"
    NO_ASSIGNABLE_CAUSE = "no_assignable_cause"


class PhaseTwoConclusion(StrEnum):
    """The full investigation's finding."""

    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not_confirmed"


D = DeviationState
DEVIATION_LIFECYCLE = TransitionTable(
    "deviation",
    {
        D.OPEN_PHASE1: frozenset({D.INVALIDATED, D.OPEN_PHASE2}),
        D.OPEN_PHASE2: frozenset({D.CONCLUDED}),
        D.CONCLUDED: frozenset({D.CLOSED}),
        D.INVALIDATED: frozenset(),
        D.CLOSED: frozenset(),
    },
)
# Invalidated is final: the OOS was a laboratory error, and the retest speaks for the test.
OPEN_STATES = frozenset({D.OPEN_PHASE1, D.OPEN_PHASE2, D.CONCLUDED})
# The steps that are signed, in the order they happen (signatures follow the same order), and
# the fields each one writes, once.
STEP_FIELDS = {
    "phase1": ("phase1_conclusion", "phase1_by", "phase1_at", "phase1_reason"),
    "phase2": ("phase2_conclusion", "phase2_by", "phase2_at", "phase2_reason"),
    "closure": ("capa", "closed_by", "closed_at", "closure_reason"),
}
STEPS = tuple(STEP_FIELDS)
DATA_QUALITY = "data_quality"  # the kind of deviation a data-quality rule's breach opens
# Kinds about no lab result: nothing to invalidate or retest, no batch or lot held.
WITHOUT_RESULT = frozenset({EM_EXCURSION, DATA_QUALITY})


@dataclass
class Deviation:
    """An OOS investigation of one rejected result; its batch or lot is held while it is open."""

    site: str
    code: str
    kind: str
    sample: str
    result: str
    test_code: str
    analyst: str
    batch: str | None
    lot: str | None
    opened_at: datetime
    opened_by: str
    reason: str
    state: DeviationState = DeviationState.OPEN_PHASE1
    phase1_conclusion: str | None = None
    phase1_by: str | None = None
    phase1_at: datetime | None = None
    phase1_reason: str | None = None
    phase2_conclusion: str | None = None
    phase2_by: str | None = None
    phase2_at: datetime | None = None
    phase2_reason: str | None = None
    capa: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    closure_reason: str | None = None
    events: list[events.Event] = field(default_factory=list, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        """Still under investigation: its batch or lot stays on hold."""
        return self.state in OPEN_STATES

    @property
    def about_a_result(self) -> bool:
        """An OOS deviation: it names a lab result (an excursion or a data-quality breach
        does not)."""
        return self.kind not in WITHOUT_RESULT

    def conclude_phase1(self, conclusion: str, by: str, at: datetime, reason: str) -> None:
        """The laboratory investigation's finding; never by the analyst who reported the result."""
        found = _choice(PhaseOneConclusion, conclusion, "phase1_conclusion")
        _need_reason(reason, "reason")
        if by == self.analyst:
            raise SegregationOfDuties(
                f"{by} reported result {self.result} and cannot conclude its phase I "
                "investigation; another reviewer must.",
                reason="deviation.investigator_is_analyst",
                field="signature.username",
            )
        target = D.INVALIDATED if found is PhaseOneConclusion.ASSIGNABLE_CAUSE else D.OPEN_PHASE2
        if target is D.INVALIDATED and self.kind == DATA_QUALITY:
            raise InvalidInput(
                f"Deviation {self.code} is a data-quality breach: there is no result to "
                "invalidate; conclude no_assignable_cause, investigate, and close it with a "
                "CAPA reference.",
                reason="deviation.dq_not_invalidated",
                field="phase1_conclusion",
            )
        self._move(target)
        self.phase1_conclusion, self.phase1_by = found.value, by
        self.phase1_at, self.phase1_reason = at, reason
        if target is D.INVALIDATED:
            self.events.append(events.DeviationEnded(self.site, self.code, at))

    def conclude_phase2(self, conclusion: str, by: str, at: datetime, rationale: str) -> None:
        """The full investigation's finding, with its rationale."""
        found = _choice(PhaseTwoConclusion, conclusion, "phase2_conclusion")
        _need_reason(rationale, "rationale")
        if by == self.analyst:
            raise SegregationOfDuties(
                f"{by} reported result {self.result} and cannot conclude its investigation.",
                reason="deviation.investigator_is_analyst",
                field="signature.username",
            )
        self._move(D.CONCLUDED)
        self.phase2_conclusion, self.phase2_by = found.value, by
        self.phase2_at, self.phase2_reason = at, rationale

    def close(self, capa: str | None, by: str, at: datetime, reason: str) -> None:
        """QA approves the conclusion and closes; a confirmed OOS and every data-quality breach
        need a CAPA reference."""
        _need_reason(reason, "reason")
        if by in (self.analyst, self.phase2_by):
            raise SegregationOfDuties(
                f"{by} reported the result or concluded the investigation of {self.code} and "
                "cannot also approve its closure; another QA person must.",
                reason="deviation.approver_is_investigator",
                field="signature.username",
            )
        # The state first: a deviation not concluded yet says so, not that a CAPA is missing.
        DEVIATION_LIFECYCLE.check(self.code, self.state, D.CLOSED)
        capa = (capa or "").strip() or None
        if capa is None and self.kind == DATA_QUALITY:
            raise InvalidInput(
                f"Deviation {self.code} is a data-quality breach; closing it needs the "
                "reference of the CAPA that corrects the records and prevents the recurrence.",
                reason="deviation.capa_required",
                field="capa",
            )
        if capa is None and self.phase2_conclusion == PhaseTwoConclusion.CONFIRMED:
            raise InvalidInput(
                f"Deviation {self.code} confirmed the OOS; closing it needs a CAPA reference.",
                reason="deviation.capa_required",
                field="capa",
            )
        self._move(D.CLOSED)
        self.capa, self.closed_by, self.closed_at, self.closure_reason = capa, by, at, reason
        self.events.append(events.DeviationEnded(self.site, self.code, at))

    def _move(self, target: DeviationState) -> None:
        DEVIATION_LIFECYCLE.check(self.code, self.state, target)
        self.state = target


def _choice(kind: type[E], value: str, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        options = ", ".join(m.value for m in kind)
        raise InvalidInput(
            f"{value!r} is not a {field.replace('_', ' ')}; use one of: {options}.",
            reason=f"deviation.bad_{field}",
            field=field,
        ) from None


def _need_reason(text: str, field: str) -> None:
    require_reason(text, field, what="This step of an investigation")


def open_oos(number: int, sample: Sample, result: Result, by: str, at: datetime) -> Deviation:
    """A new OOS deviation for a rejected result of a sample, numbered per site."""
    limit = result.limit_set
    shown = result.reported_value if result.reported_value is not None else result.raw_value
    return Deviation(
        site=sample.site,
        code=f"DEV-{number:06d}",
        kind="oos",
        sample=sample.code,
        result=result.code,
        test_code=result.test_code,
        analyst=result.analyst,
        batch=sample.batch,
        lot=sample.lot,
        opened_at=at,
        opened_by=by,
        reason=f"OOS: {result.test_code} result {result.code} is {shown}, outside {limit}",
    )


def signed_content(deviation: Deviation, step: str) -> dict[str, object]:
    """What the signature of one step binds to: the record as it stood after that step. Each
    step's fields are written once, so later steps never break an earlier step's signature."""
    content: dict[str, object] = {
        "site": deviation.site,
        "deviation": deviation.code,
        "kind": deviation.kind,
        "sample": deviation.sample,
        "result": deviation.result,
        "opened_at": deviation.opened_at,
        "reason": deviation.reason,
    }
    for done in STEPS[: STEPS.index(step) + 1]:
        content |= {name: getattr(deviation, name) for name in STEP_FIELDS[done]}
    return content
