"""Each event handler of the routing table on its own, with a fake unit of work: what it writes
(outbox rows, audit entries, records) and what it raises; then the reactor that runs them in the
transaction, until quiet, and stops a loop."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fakes import FakeUnitOfWork, ManualClock, RecordingTrendCheck, TableUnits
from labgate.domain import commands as c
from labgate.domain import events
from labgate.domain.batches import Batch, Level, ProceduralElement, Procedure, SamplingPoint
from labgate.domain.deviations import Deviation, DeviationState, open_oos
from labgate.domain.em_limits import CleanroomGrade, EmOutcome, EmSampleType, OperationalState
from labgate.domain.em_monitoring import EM_EXCURSION, EmExcursion, EmPoint, EmSample
from labgate.domain.events import Event
from labgate.domain.gates import GateTold
from labgate.domain.numbers import RoundingRule
from labgate.domain.raw_materials import LotStatus, ReceivedLot
from labgate.domain.samples import NewResult, PlannedTest, Sample
from labgate.domain.skip_lot import InspectionState
from labgate.domain.status_map import StatusMap
from labgate.domain.trending import OOT_METHOD, AlertStatus, OotAlert
from labgate.service.deps import Deps
from labgate.service.reactions import routing
from labgate.service.reactions.em import open_em_deviation
from labgate.service.reactions.gates import decide_gates, watch_gate
from labgate.service.reactions.oos import lift_hold, open_deviation
from labgate.service.reactions.oot import check_trend, withdraw_alert
from labgate.service.reactions.outbox_rows import (
    tell_batch_disposition,
    tell_lims,
    tell_lot_status,
    tell_mes,
)
from labgate.service.reactions.routing import ReactionLoop, Reactor, log_event
from labgate.service.reactions.scope import Scope
from labgate.service.unit_of_work import UnitOfWork

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
LATER = AT + timedelta(hours=1)
CODE = "S-000001"
RESULT = f"{CODE}-R1"


def scope(trend: RecordingTrendCheck | None = None) -> Scope:
    """The reviewer's message, under trace-1, on a clock at LATER."""
    deps = Deps(ManualClock(LATER), lambda _e: TableUnits({}),
                trend_check=trend or RecordingTrendCheck())  # fmt: skip
    return Scope(c.Context("rev", correlation_id="trace-1"), deps)


def sample(value: str | None = None, batch: str | None = "B1", **context: object) -> Sample:
    """A registered sample planned for an assay (NLT 98.0 %); approved at `value` if given."""
    made = Sample("S1", CODE, "P1", "SPEC", 1, AT, "mes", mes_request_id="REQ-1", batch=batch,
                  **context)  # type: ignore[arg-type]  # fmt: skip
    made.tests.append(PlannedTest("ASSAY", "M", "1", "NLT 98.0", "%", RoundingRule.USP))
    made.status = made.status.REGISTERED
    if value is not None:
        new = NewResult(RESULT, "ASSAY", value, "%", "1", "ana")
        made.record_result(new, AT, TableUnits({}), StatusMap())
        made.approve_result(RESULT, "rev", AT, StatusMap())
    made.events.clear()
    return made


def approved(of: Sample) -> events.ResultApproved:
    return events.ResultApproved(of.site, of.code, AT, RESULT)


def in_transaction(*aggregates: Sample | Deviation | Batch | ReceivedLot) -> FakeUnitOfWork:
    """A fake unit of work, entered, holding and watching `aggregates`; no reactions of its own
    (each test runs the handler it is about)."""
    uow = FakeUnitOfWork()
    uow.reactions = None
    uow.__enter__()
    for aggregate in aggregates:
        uow.records.add(aggregate)
        uow.track(aggregate)
    return uow


# ---- outbox rows ---------------------------------------------------------------------------------


@pytest.mark.requirement("URS-TX-006")
def test_tell_mes_writes_the_row_the_mes_is_owed_under_the_messages_correlation_id() -> None:
    tested = sample("99.0")
    uow = in_transaction(tested)
    tell_mes(approved(tested), uow, scope())
    [row] = uow._outbox
    assert (row.destination, row.message_type, row.record_id, row.correlation_id) == (
        "mes", "result", RESULT, "trace-1",
    )  # fmt: skip
    assert row.payload["result_status"] == "Accepted"


def test_tell_mes_says_nothing_of_a_request() -> None:
    tested = sample()
    uow = in_transaction(tested)
    tell_mes(events.SampleRequested("S1", CODE, AT), uow, scope())
    assert uow._outbox == []


def test_tell_lims_writes_only_for_an_external_lims() -> None:
    tested = sample()
    requested = events.SampleRequested("S1", CODE, AT)
    uow = in_transaction(tested)
    tell_lims(requested, uow, scope())
    assert uow._outbox == []  # a native lab reads labgate's own records
    uow.external_lims = True
    tell_lims(requested, uow, scope())
    [row] = uow._outbox
    assert (row.destination, row.message_type, row.payload["tests"][0]["test_code"]) == (
        "lims", "sample_request", "ASSAY",
    )  # fmt: skip


@pytest.mark.requirement("URS-TX-007")
def test_tell_batch_disposition_carries_the_signed_decision() -> None:
    uow = in_transaction()
    disposed = events.BatchDisposed("S1", "B1", AT, "P1", "released", "qa", "all Accepted",
                                    (CODE,))  # fmt: skip
    tell_batch_disposition(disposed, uow, scope())
    [row] = uow._outbox
    assert (row.schema, row.record_id, row.correlation_id, row.created_at) == (
        "labgate.batch_disposition.v1", "B1", "trace-1", AT,
    )  # fmt: skip
    assert (row.payload["disposition"], row.payload["samples"]) == ("released", [CODE])


def test_tell_lot_status_reads_the_decided_lot() -> None:
    lot = ReceivedLot("S1", "RM-000001", "API-1", "SUP-1", "X-1", AT, "ana", CODE,
                      InspectionState.NORMAL, True)  # fmt: skip
    lot.decide(LotStatus.REJECTED, "qa", AT, "identity failed")
    uow = in_transaction(lot)
    tell_lot_status(events.LotDecided("S1", lot.code, AT), uow, scope())
    [row] = uow._outbox
    assert (row.schema, row.record_id, row.payload["status"]) == (
        "labgate.lot_status.v1", "RM-000001", "rejected",
    )  # fmt: skip


# ---- IPC gates -----------------------------------------------------------------------------------


def test_a_watched_sample_at_a_point_is_decided_and_told_at_the_end() -> None:
    tested = sample(sampling_point="SP-1")
    elements = [ProceduralElement("PR", Level.PROCEDURE),
                ProceduralElement("PR/UP", Level.UNIT_PROCEDURE),
                ProceduralElement("PR/UP/OP", Level.OPERATION),
                ProceduralElement("PR/UP/OP/PH", Level.PHASE)]  # fmt: skip
    uow = in_transaction(tested)
    for record in (Procedure("S1", "PR", "P1", elements), Batch("S1", "B1", "P1", "PR"),
                   SamplingPoint("S1", "SP-1", "PR", "PR/UP/OP/PH")):  # fmt: skip
        uow.records.add(record)
    watching = scope()
    watch_gate(events.SampleRequested("S1", CODE, AT), uow, watching)
    assert uow._outbox == []  # noted only: decided once, for the whole transaction
    decide_gates(uow, watching)
    [row] = uow._outbox
    assert (row.schema, row.payload["waiting_for"], row.correlation_id) == (
        "labgate.operation_gate.v1", ["SP-1"], "trace-1",
    )  # fmt: skip
    assert len(uow.records.find(GateTold)) == 1


def test_a_sample_drawn_at_no_point_is_not_watched() -> None:
    tested = sample()
    uow, watching = in_transaction(tested), scope()
    watch_gate(events.SampleRequested("S1", CODE, AT), uow, watching)
    assert watching.gates.batches == {}


# ---- OOS deviation and hold ----------------------------------------------------------------------


def test_open_deviation_opens_one_for_a_rejected_result_and_holds_its_batch() -> None:
    tested = sample("97.0")
    uow = in_transaction(tested)
    open_deviation(approved(tested), uow, scope())
    [opened] = uow.records.find(Deviation)
    assert (opened.code, opened.opened_by, opened.opened_at) == ("DEV-000001", "rev", LATER)
    assert [(d.action, d.record_id) for d in uow._audit] == [
        ("deviation.opened", "DEV-000001"), ("batch.held", "B1"),
    ]  # fmt: skip
    [held] = tested.events
    assert (type(held), held.deviation) == (events.BatchHeld, "DEV-000001")  # type: ignore[attr-defined]


def test_open_deviation_leaves_an_accepted_result_alone() -> None:
    tested = sample("99.0")
    uow = in_transaction(tested)
    open_deviation(approved(tested), uow, scope())
    assert (uow.records.find(Deviation), uow._audit, tested.events) == ([], [], [])


def ended(tested: Sample, *others: Deviation) -> tuple[FakeUnitOfWork, Deviation]:
    """A deviation on the sample's result that QA has just closed, among `others`."""
    deviation = open_oos(1, tested, tested.results[0], "rev", AT)
    deviation.state, deviation.closed_at = DeviationState.CLOSED, LATER
    return in_transaction(tested, deviation, *others), deviation


def test_lift_hold_lifts_it_when_the_last_deviation_on_the_batch_ends() -> None:
    tested = sample("97.0")
    uow, deviation = ended(tested)
    lift_hold(events.DeviationEnded("S1", deviation.code, LATER), uow, scope())
    assert [(d.action, d.after) for d in uow._audit] == [
        ("batch.hold_lifted", {"hold": "off", "deviation": "DEV-000001"}),
    ]
    [lifted] = tested.events
    assert type(lifted) is events.BatchHoldLifted


def test_lift_hold_keeps_it_while_another_deviation_is_open() -> None:
    tested = sample("97.0")
    still_open = open_oos(2, tested, tested.results[0], "rev", AT)
    uow, deviation = ended(tested, still_open)
    lift_hold(events.DeviationEnded("S1", deviation.code, LATER), uow, scope())
    assert (uow._audit, tested.events) == ([], [])


def test_lift_hold_ignores_an_environmental_excursion() -> None:
    tested = sample("97.0")
    uow, deviation = ended(tested)
    deviation.kind = EM_EXCURSION
    lift_hold(events.DeviationEnded("S1", deviation.code, LATER), uow, scope())
    assert (uow._audit, tested.events) == ([], [])


# ---- EM excursions -------------------------------------------------------------------------------


def counted_alert(outcome: EmOutcome) -> tuple[FakeUnitOfWork, events.EmExcursionRecorded]:
    """An EM sample just counted above a limit, its excursion recorded; its point opens a
    deviation after two alerts in a row."""
    em = EmSample("S1", "EM-000001", "EMR-000001", "P-1", "ROOM-1", CleanroomGrade.B,
                  OperationalState.IN_OPERATION, EmSampleType.SETTLE, AT)  # fmt: skip
    em.outcome, em.sampled_at = outcome, AT
    excursion = EmExcursion("S1", "EMX-000001", em.code, "P-1", "ROOM-1", "R1", outcome,
                            Decimal(12), 10, AT, "ana", AT)  # fmt: skip
    point = EmPoint("S1", "P-1", "ROOM-1", EmSampleType.SETTLE, "by the door", 2, "qa", AT,
                    "set up with the room")  # fmt: skip
    uow = in_transaction(em)
    for record in (excursion, point):
        uow.records.add(record)
    action = outcome is EmOutcome.ACTION_EXCEEDED
    return uow, events.EmExcursionRecorded("S1", em.code, AT, excursion.code, action, "EM: 12")


def test_an_action_excursion_opens_its_deviation() -> None:
    uow, recorded = counted_alert(EmOutcome.ACTION_EXCEEDED)
    open_em_deviation(recorded, uow, scope())
    [opened] = uow.records.find(Deviation)
    assert (opened.code, opened.kind, opened.result, opened.reason) == (
        "DEV-000001", EM_EXCURSION, "EMX-000001", "EM: 12",
    )  # fmt: skip
    [excursion] = uow.records.find(EmExcursion)
    assert excursion.deviation == "DEV-000001"
    assert [d.action for d in uow._audit] == ["deviation.opened"]


def test_a_first_alert_opens_nothing_until_the_run_is_reached() -> None:
    uow, recorded = counted_alert(EmOutcome.ALERT_EXCEEDED)
    open_em_deviation(recorded, uow, scope())
    assert uow.records.find(Deviation) == []


# ---- OOT -----------------------------------------------------------------------------------------


def test_check_trend_asks_nothing_of_an_untrended_sample() -> None:
    tested, port = sample("99.0"), RecordingTrendCheck()
    uow = in_transaction(tested)
    check_trend(approved(tested), uow, scope(port))
    assert (port.calls, uow.records.find(OotAlert)) == ([], [])


def test_withdraw_alert_withdraws_the_invalidated_results_open_alert() -> None:
    tested = sample("99.0", trended=True)
    tested.invalidate_result(RESULT, "rev", "vial cracked in transit", LATER, StatusMap())
    alert = OotAlert("S1", "OOT-000001", "ipc", RESULT, CODE, "B1", "ASSAY", "SP-1 ASSAY",
                     Decimal(3), Decimal("99.0"), Decimal(100), Decimal("99.5"), Decimal("100.5"),
                     Decimal("0.05"), OOT_METHOD, 3, AT, "rev", "ana")  # fmt: skip
    uow = in_transaction(tested)
    uow.records.add(alert)
    withdraw_alert(
        events.ResultInvalidated("S1", CODE, LATER, RESULT, "vial cracked in transit"), uow, scope()
    )
    assert (alert.status, alert.acknowledged_by, alert.acknowledged_at) == (
        AlertStatus.WITHDRAWN, "rev", LATER,
    )  # fmt: skip
    assert [d.action for d in uow._audit] == ["oot_alert.withdrawn"]


# ---- logging -------------------------------------------------------------------------------------


def test_log_event_names_the_event_and_its_trace(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "labgate.bus")
    log_event(events.SampleRequested("S1", CODE, AT), in_transaction(), scope())
    assert "SampleRequested" in caplog.text and "correlation_id=trace-1" in caplog.text


# ---- the reactor: in the transaction, until quiet ------------------------------------------------


def test_a_rejected_approval_sets_off_its_chain_in_order_at_commit() -> None:
    # ResultApproved -> the result row, the deviation and its hold (BatchHeld) -> the hold row.
    tested = sample()
    tested.record_result(NewResult(RESULT, "ASSAY", "97.0", "%", "1", "ana"), AT,
                         TableUnits({}), StatusMap())  # fmt: skip
    tested.events.clear()
    uow = FakeUnitOfWork()
    uow.reactions = lambda: Reactor(scope().deps, c.Context("rev"))
    with uow:
        uow.records.add(tested)
        uow.track(tested).approve_result(RESULT, "rev", AT, StatusMap())
        uow.commit()
    assert [m.message_type for m in uow.sent] == ["result", "batch_hold"]
    assert [d.action for d in uow.audit_log] == ["deviation.opened", "batch.held"]


def test_events_raised_on_one_aggregate_follow_the_event_that_raised_them() -> None:
    first, second = sample(), sample()
    second.code = "S-000002"
    first.events += [events.SampleRequested("S1", first.code, AT)]
    second.events += [events.SampleRequested("S1", second.code, AT)]
    seen: list[str] = []

    def note(event: Event, _uow: UnitOfWork, _scope: Scope) -> None:
        assert isinstance(event, events.SampleEvent)
        seen.append(f"{type(event).__name__} {event.sample}")
        if isinstance(event, events.SampleRequested):  # raises on its own sample
            held = events.BatchHeld("S1", event.sample, AT, "DEV-1", RESULT, "OOS")
            (first if event.sample == first.code else second).events.append(held)

    table = {events.SampleRequested: [note], events.BatchHeld: [note]}
    uow = in_transaction(first, second)
    Reactor(scope().deps, c.Context("rev"), table).react(uow, None)
    assert seen == ["SampleRequested S-000001", "BatchHeld S-000001",
                    "SampleRequested S-000002", "BatchHeld S-000002"]  # fmt: skip


def test_an_event_raised_on_an_earlier_aggregate_is_still_handled() -> None:
    first, second = sample(), sample()
    second.code = "S-000002"
    second.events.append(events.SampleRequested("S1", second.code, AT))
    seen: list[str] = []

    def note(event: Event, _uow: UnitOfWork, _scope: Scope) -> None:
        seen.append(type(event).__name__)
        if isinstance(event, events.SampleRequested):
            first.events.append(events.SampleCancelled("S1", first.code, AT, "scrapped"))

    table = {events.SampleRequested: [note], events.SampleCancelled: [note]}
    uow = in_transaction(first, second)
    Reactor(scope().deps, c.Context("rev"), table).react(uow, None)
    assert seen == ["SampleRequested", "SampleCancelled"]


def test_a_handler_that_raises_what_it_handles_is_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(routing, "MOST_EVENTS_PER_MESSAGE", 50)
    tested = sample()
    tested.events.append(events.SampleRequested("S1", CODE, AT))

    def again(event: Event, _uow: UnitOfWork, _scope: Scope) -> None:
        tested.events.append(event)

    uow = in_transaction(tested)
    with pytest.raises(ReactionLoop, match="more than 50 events"):
        Reactor(scope().deps, c.Context("rev"), {events.SampleRequested: [again]}).react(uow, None)


def test_events_in_a_unit_of_work_without_reactions_refuse_to_commit() -> None:
    tested = sample()
    uow = FakeUnitOfWork()
    uow.reactions = None
    with uow:
        uow.track(tested).announce(AT)
        with pytest.raises(RuntimeError, match="no reactions"):
            uow.commit()
    assert uow.committed == 0
