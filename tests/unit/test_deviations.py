"""The OOS deviation: its transition table, who may take each step, and its opening over the real
bus with a fake unit of work (one deviation per rejected result, the hold told to the MES)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fakes import FakeUnitOfWork, ManualClock, TableUnits
from labgate.compliance.access import Account
from labgate.compliance.identities import PartnerIdentity
from labgate.domain import commands as c
from labgate.domain import events
from labgate.domain.batches import Batch
from labgate.domain.deviations import (
    DEVIATION_LIFECYCLE,
    Deviation,
    DeviationState,
    open_oos,
    signed_content,
)
from labgate.domain.errors import (
    InvalidInput,
    InvalidTransition,
    SegregationOfDuties,
)
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import LimitLine, MethodVersion, Product, SpecVersion, TestDefinition
from labgate.domain.numbers import RoundingRule
from labgate.domain.samples import NewResult, PlannedTest, Sample
from labgate.domain.status_map import StatusMap
from labgate.service.deps import Deps
from labgate.service.messagebus import MessageBus
from labgate.service.reactions.oos import open_deviation
from labgate.service.reactions.scope import Scope

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
LATER = AT + timedelta(hours=1)
S = DeviationState


def rejected_sample(batch: str | None = "B1", lot: str | None = None) -> Sample:
    """A sample whose assay result (97.0 %, NLT 98.0) was approved: Rejected."""
    sample = Sample("S1", "S-000001", "P1", "SPEC", 1, AT, "mes", batch=batch, lot=lot)
    sample.tests.append(PlannedTest("ASSAY", "M", "1", "NLT 98.0", "%", RoundingRule.USP))
    sample.status = sample.status.REGISTERED
    units, status_map = TableUnits({}), StatusMap()
    sample.record_result(NewResult("S-000001-R1", "ASSAY", "97.0", "%", "1", "ana"), AT, units,
                         status_map)  # fmt: skip
    sample.approve_result("S-000001-R1", "rev", AT, status_map)
    sample.events.clear()
    return sample


def deviation() -> Deviation:
    sample = rejected_sample()
    return open_oos(1, sample, sample.results[0], "rev", AT)


def test_opening_names_the_result_its_batch_and_why() -> None:
    opened = deviation()
    assert (opened.code, opened.kind, opened.state, opened.is_open) == (
        "DEV-000001", "oos", S.OPEN_PHASE1, True
    )  # fmt: skip
    assert (opened.sample, opened.result, opened.batch, opened.analyst) == (
        "S-000001", "S-000001-R1", "B1", "ana"
    )  # fmt: skip
    assert opened.reason == "OOS: ASSAY result S-000001-R1 is 97.0, outside SPEC v1: NLT 98.0"


def test_an_assignable_cause_invalidates_and_ends_the_investigation() -> None:
    found = deviation()
    found.conclude_phase1("assignable_cause", "rev", LATER, "Wrong dilution")
    assert (found.state, found.is_open, found.phase1_by, found.phase1_at) == (
        S.INVALIDATED, False, "rev", LATER
    )  # fmt: skip
    with pytest.raises(InvalidTransition) as late:
        found.conclude_phase2("confirmed", "rev2", LATER, "Too late to conclude")
    assert late.value.reason == "deviation.invalid_transition"


def test_no_assignable_cause_runs_phase_two_then_qa_closes() -> None:
    found = deviation()
    found.conclude_phase1("no_assignable_cause", "rev", LATER, "Nothing found in the lab")
    assert found.state is S.OPEN_PHASE2
    found.conclude_phase2("not_confirmed", "rev", LATER, "Sampling error shown")
    assert (found.state, found.is_open) == (S.CONCLUDED, True)
    found.close(None, "qa", LATER, "Not confirmed; no CAPA needed")
    assert (found.state, found.is_open, found.capa, found.closed_by) == (
        S.CLOSED, False, None, "qa"
    )  # fmt: skip


def test_a_confirmed_oos_closes_only_with_a_capa_reference() -> None:
    found = deviation()
    found.conclude_phase1("no_assignable_cause", "rev", LATER, "Nothing found")
    found.conclude_phase2("confirmed", "rev", LATER, "Blend failure")
    with pytest.raises(InvalidInput) as missing:
        found.close("  ", "qa", LATER, "Root cause confirmed")
    assert (missing.value.reason, missing.value.field, found.state) == (
        "deviation.capa_required", "capa", S.CONCLUDED
    )  # fmt: skip
    found.close("CAPA-7", "qa", LATER, "Root cause confirmed")
    assert (found.state, found.capa) == (S.CLOSED, "CAPA-7")


@pytest.mark.parametrize(
    ("moves", "reason"),
    [
        (["phase2"], "deviation.invalid_transition"),
        (["close"], "deviation.invalid_transition"),
        (["phase1", "phase1"], "deviation.invalid_transition"),
        (["phase1", "phase2", "close", "close"], "deviation.invalid_transition"),
    ],
)
@pytest.mark.requirement("URS-P11-11.10f", category="negative")
def test_steps_out_of_turn_are_refused(moves: list[str], reason: str) -> None:
    found = deviation()
    take = {
        "phase1": lambda: found.conclude_phase1(
            "no_assignable_cause", "rev", LATER, "the reason why"
        ),
        "phase2": lambda: found.conclude_phase2("confirmed", "rev", LATER, "the reason why"),
        "close": lambda: found.close("CAPA-1", "qa", LATER, "the reason why"),
    }
    for move in moves[:-1]:
        take[move]()
    before = found.state
    with pytest.raises(InvalidTransition) as refused:
        take[moves[-1]]()
    assert (refused.value.reason, found.state) == (reason, before)
    assert "allowed moves from" in refused.value.message


def test_bad_conclusions_and_empty_reasons_are_refused_by_name() -> None:
    found = deviation()
    with pytest.raises(InvalidInput) as bad:
        found.conclude_phase1("perhaps", "rev", LATER, "the reason why")
    assert (bad.value.reason, bad.value.field) == ("deviation.bad_phase1_conclusion",
                                                   "phase1_conclusion")  # fmt: skip
    with pytest.raises(InvalidInput) as empty:
        found.conclude_phase1("assignable_cause", "rev", LATER, "  ")
    assert empty.value.reason == "input.reason_required"
    found.conclude_phase1("no_assignable_cause", "rev", LATER, "the reason why")
    with pytest.raises(InvalidInput) as bad2:
        found.conclude_phase2("likely", "rev", LATER, "the reason why")
    assert bad2.value.reason == "deviation.bad_phase2_conclusion"
    assert found.state is S.OPEN_PHASE2


def test_the_analyst_never_investigates_and_the_investigator_never_approves() -> None:
    found = deviation()
    with pytest.raises(SegregationOfDuties) as own:
        found.conclude_phase1("assignable_cause", "ana", LATER, "My own mistake")
    assert own.value.reason == "deviation.investigator_is_analyst"
    found.conclude_phase1("no_assignable_cause", "qa", LATER, "Nothing found")
    found.conclude_phase2("confirmed", "qa", LATER, "Blend failure")
    for closer in ("qa", "ana"):
        with pytest.raises(SegregationOfDuties) as approver:
            found.close("CAPA-1", closer, LATER, "Approve the closure")
        assert approver.value.reason == "deviation.approver_is_investigator"
    assert found.state is S.CONCLUDED


def test_the_table_has_no_way_back_from_an_end() -> None:
    assert DEVIATION_LIFECYCLE.allowed(S.CLOSED) == frozenset()
    assert DEVIATION_LIFECYCLE.allowed(S.INVALIDATED) == frozenset()
    assert set(DEVIATION_LIFECYCLE.moves) == set(S)


def test_a_step_signature_binds_only_what_that_step_wrote() -> None:
    found = deviation()
    found.conclude_phase1("no_assignable_cause", "rev", LATER, "Nothing found")
    phase1 = signed_content(found, "phase1")
    found.conclude_phase2("confirmed", "rev", LATER, "Blend failure")
    found.close("CAPA-1", "qa", LATER, "Root cause confirmed")
    assert signed_content(found, "phase1") == phase1
    assert signed_content(found, "closure")["capa"] == "CAPA-1"


# ---- opening, over the bus with a fake unit of work ---------------------------------------------


def open_if_rejected(uow: FakeUnitOfWork, sample: Sample, code: str) -> None:
    """The OOS reaction to the approval of result `code`, in the reviewer's name."""
    approved = events.ResultApproved(sample.site, sample.code, AT, code)
    deps = Deps(ManualClock(AT), lambda _e: TableUnits({}))
    open_deviation(approved, uow, Scope(c.Context("rev"), deps))


def test_opening_is_idempotent_and_holds_the_batch() -> None:
    uow, sample = FakeUnitOfWork(), rejected_sample()
    with uow:
        uow.records.add(sample)
        for _ in range(2):
            open_if_rejected(uow, uow.track(sample), sample.results[0].code)
        uow.commit()
    [opened] = uow.records.find(Deviation)
    assert opened.code == "DEV-000001"
    assert [m.message_type for m in uow.sent] == ["batch_hold"]
    assert (uow.sent[0].payload["hold"], uow.sent[0].record_id) == ("on", "DEV-000001")
    actions = [(e.action, e.record_id) for e in uow.audit_log]
    assert actions == [("deviation.opened", "DEV-000001"), ("batch.held", "B1")]


def test_a_sample_of_no_batch_holds_its_lot_and_of_neither_holds_nothing() -> None:
    for batch, lot, held in ((None, "L1", [("lot.held", "L1")]), (None, None, [])):
        uow, sample = FakeUnitOfWork(), rejected_sample(batch, lot)
        with uow:
            open_if_rejected(uow, uow.track(sample), sample.results[0].code)
            uow.commit()
        assert [(e.action, e.record_id) for e in uow.audit_log][1:] == held
        assert [m.payload["lot"] for m in uow.sent] == [lot] * len(held)


def test_an_accepted_result_opens_nothing() -> None:
    uow, sample = FakeUnitOfWork(), rejected_sample()
    accepted = sample.results[0]
    accepted.mes_status = accepted.mes_status.ACCEPTED
    with uow:
        open_if_rejected(uow, uow.track(sample), accepted.code)
        uow.commit()
    assert (uow.records.find(Deviation), uow.audit_log) == ([], [])


def test_a_rejected_result_reviewed_in_the_lims_opens_a_deviation_in_its_transaction() -> None:
    uow = FakeUnitOfWork()
    r = uow.records
    r.add(Product("S1", "P1", "Tablet", "SPEC"))
    r.add(MethodVersion("S1", "M", "1", RoundingRule.USP))
    r.add(TestDefinition("S1", "ASSAY", "Assay", "%", "M", "1"))
    spec = SpecVersion("S1", "SPEC", 1, "author", [LimitLine("ASSAY", "NLT 98.0")])
    spec.status, spec.effective_from = SpecStatus.EFFECTIVE, datetime(2026, 1, 1, tzinfo=UTC)
    r.add(spec)
    r.add(Batch("S1", "B1", "P1", "PROC"))
    for person, role in (("ana", "qc_analyst"), ("rev", "qc_reviewer")):
        r.add(Account(person, person.title(), [role]))
        r.add(PartnerIdentity("lims", person, person, "admin", AT, "CR-1: ids synchronised"))
    bus = MessageBus(lambda: uow, Deps(ManualClock(AT), lambda _e: TableUnits({})))
    lims = c.Context("lims", "system")
    sample = bus.handle(c.RequestSample(lims, "S1", "REQ-1", "P1", AT, batch="B1",
                                        register_now=True))  # fmt: skip
    committed = uow.committed
    bus.handle(c.RecordResult(lims, "S1", sample, "ASSAY", "97.0", "%", "1", "ana",
                              reviewer="rev", approved_at=AT, lims_status="approved"))  # fmt: skip
    assert uow.committed == committed + 1
    [opened] = uow.records.find(Deviation)
    assert (opened.result, opened.opened_by, opened.state) == (
        f"{sample}-R1", "lims", S.OPEN_PHASE1
    )  # fmt: skip
    assert "batch_hold" in [m.message_type for m in uow.sent]
