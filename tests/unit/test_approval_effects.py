"""What a successful approval leaves behind, pinned in fast tests: the e-signature bound to the
result's content, its audit entries, the MES message and, when the result fails its limit, the
OOS deviation with its hold. Over the real bus with a fake unit of work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fakes import FakeUnitOfWork, ManualClock, TableUnits
from labgate.compliance.access import Account
from labgate.compliance.canonical import content_hash
from labgate.compliance.passwords import hash_password
from labgate.compliance.signatures import Meaning, Signature
from labgate.domain import commands as c
from labgate.domain.batches import Batch
from labgate.domain.deviations import Deviation, DeviationState
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import LimitLine, MethodVersion, Product, SpecVersion, TestDefinition
from labgate.domain.numbers import RoundingRule
from labgate.domain.samples import Sample, result_content
from labgate.service.deps import Deps
from labgate.service.messagebus import MessageBus

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture
def uow() -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    r = fake.records
    r.add(Product("S1", "P1", "Tablet", "SPEC"))
    r.add(MethodVersion("S1", "M", "1", RoundingRule.USP))
    r.add(TestDefinition("S1", "ASSAY", "Assay", "%", "M", "1"))
    spec = SpecVersion("S1", "SPEC", 1, "author", [LimitLine("ASSAY", "NLT 98.0")])
    spec.status, spec.effective_from = SpecStatus.EFFECTIVE, datetime(2026, 1, 1, tzinfo=UTC)
    r.add(spec)
    r.add(Batch("S1", "B1", "P1", "PROC"))
    for name, role in (("ana", "qc_analyst"), ("rev", "qc_reviewer")):
        r.add(Account(name, name.title(), [role], password_hash=hash_password(PASSWORD)))
    return fake


@pytest.fixture
def bus(uow: FakeUnitOfWork) -> MessageBus:
    return MessageBus(lambda: uow, Deps(ManualClock(AT), lambda _e: TableUnits({})))


def approved(bus: MessageBus, value: str) -> str:
    mes = c.Context("mes", "system")
    sample = bus.handle(c.RequestSample(mes, "S1", "REQ-1", "P1", AT, batch="B1",
                                        register_now=True))  # fmt: skip
    entered = c.RecordResult(c.Context("ana"), "S1", sample, "ASSAY", value, "%", "1", "ana")
    code: str = bus.handle(entered)
    signature = c.SignatureInput("rev", PASSWORD, "approved")
    bus.handle(c.ApproveResult(c.Context("rev"), "S1", code, signature))
    return code


@pytest.mark.requirement("URS-A11-14", "URS-P11-11.70")
def test_an_approval_leaves_a_signature_bound_to_the_results_content(
    bus: MessageBus, uow: FakeUnitOfWork
) -> None:
    code = approved(bus, "99.1")
    [sample] = uow.records.find(Sample)
    result = sample.result(code)
    [signature] = uow.records.find(Signature)
    assert (signature.record_type, signature.record_id, signature.site) == ("result", code, "S1")
    assert (signature.signer, signature.printed_name, signature.meaning, signature.signed_at) == (
        "rev", "Rev", Meaning.APPROVED, AT,
    )  # fmt: skip
    assert signature.content_hash == content_hash(result_content(sample, result))
    actions = [d.action for d in uow.audit_log if d.record_id == code]
    assert actions[-2:] == ["result.approved", "signature.applied"]
    assert (result.status.value, result.reviewer, result.mes_status.value) == (
        "approved", "rev", "Accepted",
    )  # fmt: skip
    [to_mes] = [m for m in uow.sent if m.message_type == "result"]
    assert to_mes.payload["result_status"] == "Accepted"
    assert uow.records.find(Deviation) == []


def test_a_failing_approval_opens_an_oos_deviation_and_holds_the_batch(
    bus: MessageBus, uow: FakeUnitOfWork
) -> None:
    code = approved(bus, "97.0")
    [deviation] = uow.records.find(Deviation)
    assert (deviation.result, deviation.batch, deviation.state, deviation.opened_by) == (
        code, "B1", DeviationState.OPEN_PHASE1, "rev",
    )  # fmt: skip
    [hold] = [m for m in uow.sent if m.message_type == "batch_hold"]
    assert (hold.payload["hold"], hold.payload["deviation"]) == ("on", deviation.code)
    [to_mes] = [m for m in uow.sent if m.message_type == "result"]
    assert to_mes.payload["result_status"] == "Rejected"
    assert "deviation.opened" in [d.action for d in uow.audit_log]
