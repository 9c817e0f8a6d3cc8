"""Received raw-material lots: which tests a lot gets, how its disposition moves the plan on, what
blocks its release; and receipt over the real bus with a fake unit of work. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fakes import FakeUnitOfWork, ManualClock, TableUnits
from labgate.domain import commands as c
from labgate.domain.deviations import open_oos
from labgate.domain.errors import Conflict, InvalidInput
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import (
    LimitLine,
    Material,
    MethodVersion,
    SpecVersion,
    TestDefinition,
)
from labgate.domain.numbers import RoundingRule
from labgate.domain.raw_materials import (
    ConfigureSkipLotPlan,
    LotStatus,
    MaterialPlan,
    ReceivedLot,
    ReceiveLot,
    check_identity_tests,
    release_blockers,
)
from labgate.domain.raw_materials import (
    tests_for_lot as planned_codes,
)
from labgate.domain.samples import NewResult, PlannedTest, Sample
from labgate.domain.skip_lot import InspectionState, LotDecision
from labgate.domain.status_map import StatusMap
from labgate.service.deps import Deps
from labgate.service.messagebus import MessageBus
from labgate.service.messages import LotStatusV1
from labgate.service.reactions.messages import lot_status_message

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SPEC = ["IDENT", "ASSAY", "WATER"]
NORMAL, SKIPPING = InspectionState.NORMAL, InspectionState.SKIPPING


def plan(clearance: int = 2) -> MaterialPlan:
    return MaterialPlan("S1", "API-1", "SUP-1", "SPEC-RM", ["IDENT"], clearance, Decimal("0.5"),
                        "qa", AT, "CC-1: plan agreed")  # fmt: skip


def lot() -> ReceivedLot:
    return ReceivedLot("S1", "RM-000001", "API-1", "SUP-1", "X-1", AT, "ana", "S-000001",
                       NORMAL, True)  # fmt: skip


@pytest.mark.parametrize(
    ("decision", "planned"),
    [
        (LotDecision(True, NORMAL, None), SPEC),
        (LotDecision(True, SKIPPING, Decimal("0.1")), SPEC),
        (LotDecision(False, SKIPPING, Decimal("0.9")), ["IDENT"]),
    ],
)
def test_identity_is_always_planned_and_the_full_panel_only_when_inspected(
    decision: LotDecision, planned: list[str]
) -> None:
    assert planned_codes(SPEC, ["IDENT"], decision) == planned


def test_a_plan_names_identity_tests_of_its_specification() -> None:
    check_identity_tests(SPEC, ["IDENT"])
    with pytest.raises(InvalidInput) as missing:
        check_identity_tests(SPEC, [])
    assert missing.value.reason == "skip_lot.identity_missing"
    with pytest.raises(InvalidInput) as unknown:
        check_identity_tests(SPEC, ["PH"])
    assert unknown.value.reason == "skip_lot.identity_not_in_spec"


def test_the_plan_skips_after_clearance_and_a_rejection_returns_it_to_normal() -> None:
    material = plan()
    material.record(accepted=True)
    assert (material.state, material.consecutive_accepted) == (NORMAL, 1)
    material.record(accepted=True)
    assert (material.state, material.consecutive_accepted) == (SKIPPING, 2)
    material.record(accepted=False)
    assert (material.state, material.consecutive_accepted) == (NORMAL, 0)


def test_a_lot_is_decided_once_from_quarantine() -> None:
    received = lot()
    received.decide(LotStatus.RELEASED, "qa", AT, "all Accepted")
    assert (received.status, received.decided_by) == (LotStatus.RELEASED, "qa")
    with pytest.raises(Conflict) as again:
        received.decide(LotStatus.REJECTED, "qa", AT, "changed mind")
    assert again.value.reason == "lot.already_decided"


def sample(*values: str) -> Sample:
    tested = Sample("S1", "S-000001", "API-1", "SPEC-RM", 1, AT, "ana", lot="RM-000001")
    tested.tests.append(PlannedTest("ASSAY", "M", "1", "NLT 98.0", "%", RoundingRule.USP))
    tested.status = tested.status.REGISTERED
    for n, value in enumerate(values, start=1):
        code = f"S-000001-R{n}"
        new = NewResult(code, "ASSAY", value, "%", "1", "ana")
        tested.record_result(new, AT, TableUnits({}), StatusMap())
    return tested


def test_release_waits_for_every_required_test_to_be_accepted() -> None:
    assert release_blockers(sample(), []) == [("release.result_missing", "ASSAY has no result")]
    preliminary = sample("99.0")
    assert release_blockers(preliminary, []) == [
        ("release.unreviewed_result", "ASSAY is not approved")
    ]
    preliminary.approve_result("S-000001-R1", "rev", AT, StatusMap())
    assert release_blockers(preliminary, []) == []


def test_a_rejected_test_and_its_open_deviation_both_block_release() -> None:
    failed = sample("97.0")
    failed.approve_result("S-000001-R1", "rev", AT, StatusMap())
    deviation = open_oos(1, failed, failed.results[0], "rev", AT)
    assert [reason for reason, _ in release_blockers(failed, [deviation])] == [
        "release.test_rejected",
        "release.on_hold",
    ]


def test_the_lot_status_message_fits_its_published_schema() -> None:
    released = lot()
    released.decide(LotStatus.RELEASED, "qa", AT, "all Accepted")
    message = lot_status_message(released, "trace-1", AT)
    assert (message.destination, message.schema) == ("mes", "labgate.lot_status.v1")
    LotStatusV1.model_validate(message.payload)
    assert message.payload["status"] == "released"


def stocked() -> FakeUnitOfWork:
    """A material, its specification in force, and the tests' definitions and methods."""
    uow = FakeUnitOfWork()
    r = uow.records
    r.add(Material("S1", "API-1", "Active ingredient"))
    r.add(MethodVersion("S1", "M", "1", RoundingRule.USP))
    for code in SPEC:
        r.add(TestDefinition("S1", code, code.title(), "%", "M", "1"))
    limits = [LimitLine(code, "NLT 1.0") for code in SPEC]
    spec = SpecVersion("S1", "SPEC-RM", 1, "author", limits)
    spec.status, spec.effective_from = SpecStatus.EFFECTIVE, datetime(2026, 1, 1, tzinfo=UTC)
    r.add(spec)
    return uow


def test_a_skipping_lot_records_its_draw_on_the_lot_and_in_the_trail() -> None:
    uow, draws = stocked(), iter([Decimal("0.75"), Decimal("0.25")])
    bus = MessageBus(lambda: uow, Deps(ManualClock(AT), lambda _e: TableUnits({}),
                                       draw=lambda: next(draws)))  # fmt: skip
    qa, ana = c.Context("qa"), c.Context("ana")
    bus.handle(ConfigureSkipLotPlan(qa, "S1", "API-1", "SUP-1", "SPEC-RM", ("IDENT",), 1,
                                    Decimal("0.5"), "CC-1: plan agreed"))  # fmt: skip
    [configured] = uow.records.find(MaterialPlan)
    configured.record(accepted=True)  # one lot accepted: clearance 1 reached, skipping
    receipt = ReceiveLot(ana, "S1", "API-1", "SUP-1", "X-1", AT)
    codes = [bus.handle(receipt), bus.handle(receipt)]
    lots = [uow.records.get(ReceivedLot, site="S1", code=code) for code in codes]
    assert [(lot.draw, lot.full_panel) for lot in lots if lot] == [
        (Decimal("0.75"), False),
        (Decimal("0.25"), True),
    ]
    samples = [uow.records.get(Sample, site="S1", code=lot.sample) for lot in lots if lot]
    assert [[t.test_code for t in s.tests] for s in samples if s] == [["IDENT"], SPEC]
    received = [d for d in uow.audit_log if d.action == "lot.received"]
    assert [d.after["draw"] for d in received if d.after] == ["0.75", "0.25"]


def test_a_lot_of_no_plan_is_refused_and_nothing_is_kept() -> None:
    uow = stocked()
    bus = MessageBus(lambda: uow, Deps(ManualClock(AT), lambda _e: TableUnits({})))
    with pytest.raises(Conflict) as refused:
        bus.handle(ReceiveLot(c.Context("ana"), "S1", "API-1", "SUP-9", "X-1", AT))
    assert refused.value.reason == "skip_lot_plan.unknown"
    assert uow.records.find(ReceivedLot) == [] and uow.records.find(Sample) == []
