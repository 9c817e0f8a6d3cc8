"""The OOT hook in the approval path, over the real bus with a fake unit of work and a recording
trend check (the port): untrended samples never reach the port; a trended point's history is its
earlier batches in start order; an out-of-trend verdict raises an alert and leaves the result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fakes import FakeUnitOfWork, ManualClock, RecordingTrendCheck, TableUnits
from labgate.compliance.access import Account
from labgate.compliance.passwords import hash_password
from labgate.domain import commands as c
from labgate.domain.batches import Batch, SamplingPoint
from labgate.domain.lifecycle import ResultStatus, SpecStatus
from labgate.domain.masterdata import LimitLine, MethodVersion, Product, SpecVersion, TestDefinition
from labgate.domain.numbers import RoundingRule
from labgate.domain.samples import Sample
from labgate.domain.sampling import RELEASE_SET, SamplingPlan
from labgate.domain.trending import OOT_ALPHA, OotAlert, TrendObservation, TrendVerdict
from labgate.service.deps import Deps
from labgate.service.messagebus import MessageBus

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
BATCHES = ("B1", "B2", "B3", "B4")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    r = fake.records
    r.add(Product("S1", "P1", "Tablet", "SPEC"))
    r.add(MethodVersion("S1", "M", "1", RoundingRule.USP))
    r.add(TestDefinition("S1", "WATER", "Water", "%", "M", "1"))
    spec = SpecVersion("S1", "SPEC", 1, "author", [LimitLine("WATER", "NMT 0.5")])
    spec.status, spec.effective_from = SpecStatus.EFFECTIVE, datetime(2026, 1, 1, tzinfo=UTC)
    # Both IPC points plan water (domain/sampling.py: an IPC point needs its plan).
    spec.plans = [SamplingPlan(p, RELEASE_SET, ["WATER"]) for p in ("SP-TREND", "SP-PLAIN")]
    r.add(spec)
    for day, code in enumerate(reversed(BATCHES)):  # added newest first: order is by start
        r.add(Batch("S1", code, "P1", "PROC", started_at=AT - timedelta(days=day + 1)))
    r.add(SamplingPoint("S1", "SP-TREND", "PROC", "PROC/UP/OP/PH", trended=True))
    r.add(SamplingPoint("S1", "SP-PLAIN", "PROC", "PROC/UP/OP/PH"))
    for name, role in (("ana", "qc_analyst"), ("rev", "qc_reviewer")):
        r.add(Account(name, name.title(), [role], password_hash=hash_password(PASSWORD)))
    return fake


@pytest.fixture
def port() -> RecordingTrendCheck:
    return RecordingTrendCheck()


@pytest.fixture
def bus(uow: FakeUnitOfWork, port: RecordingTrendCheck) -> MessageBus:
    units = TableUnits({})
    deps = Deps(ManualClock(AT), lambda _expressions: units, trend_check=port)
    return MessageBus(lambda: uow, deps)


def approved(bus: MessageBus, batch: str, point: str, value: str) -> str:
    request = c.RequestSample(
        c.Context("mes", "system"),
        "S1",
        f"REQ-{batch}-{point}",
        "P1",
        AT,
        batch=batch,
        sampling_point=point,
        register_now=True,
    )
    sample: str = bus.handle(request)
    entered = bus.handle(
        c.RecordResult(c.Context("ana"), "S1", sample, "WATER", value, "%", "1", "ana")
    )
    signature = c.SignatureInput("rev", PASSWORD, "approved")
    return str(bus.handle(c.ApproveResult(c.Context("rev"), "S1", entered, signature)))


def test_an_untrended_sample_never_reaches_the_port(
    bus: MessageBus, port: RecordingTrendCheck
) -> None:
    for batch in BATCHES:
        approved(bus, batch, "SP-PLAIN", "0.20")
    assert port.calls == []


def test_the_history_is_earlier_batches_in_start_order(
    bus: MessageBus, port: RecordingTrendCheck, uow: FakeUnitOfWork
) -> None:
    for batch, value in zip(BATCHES, ("0.20", "0.22", "0.21", "0.40"), strict=True):
        approved(bus, batch, "SP-TREND", value)
    history, new, alpha = port.calls[-1]  # B1 and B2 had too little history to be checked
    assert len(port.calls) == 1 and alpha == OOT_ALPHA
    assert history == [
        TrendObservation("B1", Decimal(0), Decimal("0.20")),
        TrendObservation("B2", Decimal(1), Decimal("0.22")),
        TrendObservation("B3", Decimal(2), Decimal("0.21")),
    ]
    assert new == TrendObservation("B4", Decimal(3), Decimal("0.40"))
    assert uow.records.find(OotAlert) == []  # the port gave no verdict


def test_an_out_of_trend_verdict_raises_an_alert_and_leaves_the_result_approved(
    bus: MessageBus, port: RecordingTrendCheck, uow: FakeUnitOfWork
) -> None:
    for batch, value in zip(BATCHES[:3], ("0.20", "0.22", "0.21"), strict=True):
        approved(bus, batch, "SP-TREND", value)
    port.verdict = TrendVerdict(Decimal("0.215"), Decimal("0.19"), Decimal("0.24"), True)
    code = approved(bus, "B4", "SP-TREND", "0.40")
    (alert,) = uow.records.find(OotAlert)
    assert (alert.result, alert.batch, alert.kind, alert.value) == (
        code,
        "B4",
        "ipc",
        Decimal("0.40"),
    )
    (sample,) = [s for s in uow.records.find(Sample) if s.batch == "B4"]
    assert sample.result(code).status is ResultStatus.APPROVED
    assert "oot_alert.raised" in [entry.action for entry in uow.audit_log]


def observations(*values: str) -> list[TrendObservation]:
    return [TrendObservation(f"B{i}", Decimal(i), Decimal(v)) for i, v in enumerate(values)]


def test_the_adapter_judges_with_the_prediction_interval_or_gives_no_verdict() -> None:
    from labgate.adapters.trend_check import regression_trend_check

    history = observations("0.20", "0.22", "0.21", "0.23", "0.22")
    far = regression_trend_check(
        history, TrendObservation("B5", Decimal(5), Decimal("0.45")), OOT_ALPHA
    )
    near = regression_trend_check(
        history, TrendObservation("B5", Decimal(5), Decimal("0.23")), OOT_ALPHA
    )
    assert far is not None and far.out_of_trend and far.upper < Decimal("0.45")
    assert near is not None and not near.out_of_trend and near.lower < near.predicted < near.upper
    new = TrendObservation("B3", Decimal(3), Decimal("9"))
    assert regression_trend_check(history[:2], new, OOT_ALPHA) is None  # too few
    assert regression_trend_check(observations("1", "2", "3"), new, OOT_ALPHA) is None  # no spread
