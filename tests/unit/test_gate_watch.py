"""The MES hears about an operation's gate when its decision changes, once per change, in the
transaction that changed it; samples drawn elsewhere than at a sampling point tell no gate."""

from __future__ import annotations

from datetime import UTC, datetime

from fakes import FakeUnitOfWork
from labgate.domain import events
from labgate.domain.batches import Batch, Level, ProceduralElement, Procedure, SamplingPoint
from labgate.domain.deviations import Deviation
from labgate.domain.gates import GateEntry, GateTold
from labgate.domain.lifecycle import ResultStatus
from labgate.domain.numbers import RoundingRule
from labgate.domain.samples import PlannedTest, Result, Sample
from labgate.domain.status_map import MesStatus

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def plant() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    elements = [ProceduralElement("PR", Level.PROCEDURE),
                ProceduralElement("PR/UP", Level.UNIT_PROCEDURE),
                ProceduralElement("PR/UP/OP", Level.OPERATION),
                ProceduralElement("PR/UP/OP/PH", Level.PHASE)]  # fmt: skip
    for record in (
        Procedure("S", "PR", "P1", elements),
        SamplingPoint("S", "SP-1", "PR", "PR/UP/OP/PH"),
        Batch("S", "B1", "P1", "PR"),
    ):
        uow.records.add(record)
    return uow


def requested(uow: FakeUnitOfWork, code: str, point: str | None) -> Sample:
    sample = Sample("S", code, "P1", "SPEC", 1, AT, "mes", batch="B1", sampling_point=point)
    sample.events.append(events.SampleRequested("S", code, AT))
    uow.records.add(sample)
    uow.track(sample)
    return sample


def test_a_new_sample_at_a_point_enters_the_gate_and_the_mes_is_told_once() -> None:
    uow = plant()
    with uow:
        requested(uow, "S-1", "SP-1")
        uow.commit()
    [entry] = uow.records.find(GateEntry)
    assert (entry.sample, entry.sampling_point, entry.mes_status.value) == (
        "S-1",
        "SP-1",
        "Pending",
    )
    [message] = uow.sent[-1:]
    assert (message.schema, message.payload["hold"], message.payload["waiting_for"]) == (
        "labgate.operation_gate.v1", "on", ["SP-1"],
    )  # fmt: skip
    [gate] = uow.records.find(GateTold)
    assert (gate.message_id, gate.waiting_for) == (message.message_id, "SP-1")

    with uow:  # a second pending sample at the point changes nothing the MES needs to hear
        requested(uow, "S-2", "SP-1")
        uow.commit()
    assert [m.schema for m in uow.sent].count("labgate.operation_gate.v1") == 1
    assert len(uow.records.find(GateEntry)) == 2


def test_a_sample_drawn_without_a_sampling_point_tells_no_gate() -> None:
    uow = plant()
    with uow:
        requested(uow, "S-1", None)
        uow.commit()
    assert uow.records.find(GateEntry) == []
    assert [m for m in uow.sent if m.schema == "labgate.operation_gate.v1"] == []


def test_nothing_is_told_when_the_change_is_rolled_back() -> None:
    uow = plant()
    with uow:
        requested(uow, "S-1", "SP-1")  # leaving without commit
    assert [m for m in uow.sent if m.schema == "labgate.operation_gate.v1"] == []


def test_an_operation_free_to_complete_is_not_told_until_it_was_held() -> None:
    uow = plant()
    [point] = uow.records.find(SamplingPoint)
    point.gate = "informative"
    with uow:
        requested(uow, "S-1", "SP-1")
        uow.commit()
    assert [m for m in uow.sent if m.schema == "labgate.operation_gate.v1"] == []
    assert uow.records.find(GateTold) == []
    assert len(uow.records.find(GateEntry)) == 1


def test_a_deviation_that_covers_a_rejected_sample_lets_its_operation_go_on() -> None:
    # The sample's status does not move, only its cover: the gate is decided again all the same.
    uow = plant()
    [point] = uow.records.find(SamplingPoint)
    point.gate = "allow_with_deviation"
    with uow:
        sample = requested(uow, "S-1", "SP-1")
        sample.tests.append(PlannedTest("ASSAY", "M-1", "1", "95-105", "%", RoundingRule.USP))
        rejected = Result("S-1-R1", "ASSAY", "90", "%", "M-1", "1", "analyst", AT, "95-105")
        rejected.status, rejected.mes_status = ResultStatus.APPROVED, MesStatus.REJECTED
        sample.results.append(rejected)
        uow.commit()
    assert uow.sent[-1].payload["hold"] == "on"
    with uow:
        uow.records.add(Deviation("S", "DEV-1", "oos", "S-1", "S-1-R1", "ASSAY", "analyst", "B1",
                                  None, AT, "qa", "OOS"))  # fmt: skip
        uow.track(sample).events.append(events.BatchHeld("S", "S-1", AT, "DEV-1", "S-1-R1", "OOS"))
        uow.commit()
    gates = [m for m in uow.sent if m.schema == "labgate.operation_gate.v1"]
    assert [m.payload["hold"] for m in gates] == ["on", "off"]
