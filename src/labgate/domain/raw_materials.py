"""Received raw-material lots: quarantine until their required tests are Accepted.

Identity is tested on every lot (21 CFR 211.84(d)(1)); the rest of the specification, the *full
panel*, follows the material's SkSP-2 plan per supplier (`skip_lot`). Which tests are identity
tests is part of the plan's configuration (`identity_tests`, test codes of the plan's
specification); every other test of the specification is the full panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from labgate.domain import events
from labgate.domain.commands import Command, SignatureInput
from labgate.domain.deviations import Deviation
from labgate.domain.errors import Conflict, InvalidInput
from labgate.domain.lifecycle import ResultStatus
from labgate.domain.reasons import require_reason
from labgate.domain.samples import Sample
from labgate.domain.skip_lot import (
    InspectionState,
    LotDecision,
    SkipLotPlan,
    SkipLotState,
    record_outcome,
)
from labgate.domain.status_map import MesStatus


class LotStatus(StrEnum):
    """A received lot waits in quarantine until QA releases or rejects it."""

    QUARANTINE = "quarantine"
    RELEASED = "released"
    REJECTED = "rejected"


@dataclass
class MaterialPlan:
    """The skip-lot plan of one material from one supplier, and where it stands."""

    site: str
    material: str
    supplier: str
    specification: str
    identity_tests: list[str]
    clearance: int
    fraction: Decimal
    changed_by: str
    changed_at: datetime
    reason: str
    state: InspectionState = InspectionState.NORMAL
    consecutive_accepted: int = 0

    @property
    def plan(self) -> SkipLotPlan:
        """The SkSP-2 parameters, checked."""
        return SkipLotPlan(self.clearance, self.fraction)

    @property
    def running(self) -> SkipLotState:
        """The persisted running state."""
        return SkipLotState(self.state, self.consecutive_accepted)

    def record(self, accepted: bool) -> None:
        """One lot's disposition moves the plan on; a rejection returns it to normal."""
        moved = record_outcome(self.plan, self.running, accepted)
        self.state, self.consecutive_accepted = moved.state, moved.consecutive_accepted


@dataclass
class ReceivedLot:
    """A lot of raw material as received from a supplier, with its skip-lot decision."""

    site: str
    code: str
    material: str
    supplier: str
    supplier_lot: str
    received_at: datetime
    received_by: str
    sample: str
    inspection_state: InspectionState
    full_panel: bool
    draw: Decimal | None = None
    status: LotStatus = LotStatus.QUARANTINE
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    supplier_coa: list[dict[str, Any]] = field(default_factory=list)
    events: list[events.Event] = field(default_factory=list, compare=False, repr=False)

    def decide(self, status: LotStatus, by: str, at: datetime, reason: str) -> None:
        """Release or reject, once, from quarantine, saying why."""
        reason = require_reason(reason, what="A lot's release or rejection")
        if self.status is not LotStatus.QUARANTINE:
            raise Conflict(
                f"Lot {self.code} is already {self.status.value}; only a lot in quarantine is "
                "released or rejected.",
                reason="lot.already_decided",
                field="lot",
            )
        self.status, self.decided_by, self.decided_at = status, by, at
        self.decision_reason = reason
        self.events.append(events.LotDecided(self.site, self.code, at))


def tests_for_lot(
    spec_tests: Sequence[str], identity: Sequence[str], decision: LotDecision
) -> list[str]:
    """Identity tests always; the rest of the specification only when the lot is inspected."""
    return [t for t in spec_tests if t in identity or decision.inspect]


def check_identity_tests(spec_tests: Sequence[str], identity: Sequence[str]) -> None:
    """A plan names at least one identity test, each one a test of its specification."""
    if not identity:
        raise InvalidInput(
            "A raw-material plan names at least one identity test: every lot is identity "
            "tested (21 CFR 211.84(d)(1)).",
            reason="skip_lot.identity_missing",
            field="identity_tests",
        )
    unknown = [t for t in identity if t not in spec_tests]
    if unknown:
        raise InvalidInput(
            f"Identity test(s) {', '.join(unknown)} are not in the specification; name tests "
            f"of it: {', '.join(spec_tests)}.",
            reason="skip_lot.identity_not_in_spec",
            field="identity_tests",
        )


def release_blockers(sample: Sample, deviations: Sequence[Deviation]) -> list[tuple[str, str]]:
    """(reason code, sentence) for each required test not Accepted and each open deviation."""
    blockers = []
    for test in sample.tests:
        result = sample.active_result(test.test_code)
        if result is None:
            blockers.append(("release.result_missing", f"{test.test_code} has no result"))
        elif result.status is ResultStatus.PRELIMINARY:
            blockers.append(("release.unreviewed_result", f"{test.test_code} is not approved"))
        elif result.mes_status is not MesStatus.ACCEPTED:
            status = result.mes_status.value
            blockers.append((f"release.test_{status.lower()}", f"{test.test_code} is {status}"))
    blockers += [
        ("release.on_hold", f"deviation {d.code} is {d.state.value}")
        for d in deviations
        if d.is_open
    ]
    return blockers


@dataclass(frozen=True)
class ReceiveLot(Command):
    """A lot of a material arrived from a supplier: quarantine it and plan its tests."""

    site: str
    material: str
    supplier: str
    supplier_lot: str
    received_at: datetime


@dataclass(frozen=True)
class ConfigureSkipLotPlan(Command):
    """Set a material's plan per supplier, under change control."""

    site: str
    material: str
    supplier: str
    specification: str
    identity_tests: tuple[str, ...]
    clearance: int
    fraction: Decimal
    reason: str


@dataclass(frozen=True)
class SupplierValue:
    """One value from a supplier's certificate of analysis."""

    test_code: str
    value: str
    unit: str | None


@dataclass(frozen=True)
class ImportSupplierCoa(Command):
    """The supplier's CoA values for a lot, kept and compared with labgate's limits."""

    site: str
    lot: str
    values: tuple[SupplierValue, ...]


@dataclass(frozen=True)
class DecideLot(Command):
    """QA releases (signed 'released') or rejects (signed 'approved') a lot, with a reason."""

    site: str
    lot: str
    release: bool
    reason: str
    signature: SignatureInput
