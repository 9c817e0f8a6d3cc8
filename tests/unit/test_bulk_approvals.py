"""ApproveResults over the real bus with a fake unit of work: one signature check for the list,
each result its own signature on its own content, and a list refused whole, with the field and
the rule named, when it is empty, names a result twice, or lists one changed since shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fakes import FakeUnitOfWork, ManualClock, TableUnits
from labgate.compliance.access import Account
from labgate.compliance.canonical import content_hash
from labgate.compliance.passwords import hash_password
from labgate.compliance.signatures import Signature
from labgate.domain import commands as c
from labgate.domain.batches import Batch
from labgate.domain.errors import Conflict, InvalidInput, LabgateError
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import LimitLine, MethodVersion, Product, SpecVersion, TestDefinition
from labgate.domain.numbers import RoundingRule
from labgate.domain.samples import Sample, result_content
from labgate.service.deps import Deps
from labgate.service.messagebus import MessageBus

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
SIGNATURE = c.SignatureInput("rev", PASSWORD, "approved")


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


def _entered(bus: MessageBus, request: str, value: str) -> str:
    mes = c.Context("mes", "system")
    sample = bus.handle(c.RequestSample(mes, "S1", request, "P1", AT, batch="B1",
                                        register_now=True))  # fmt: skip
    entered = c.RecordResult(c.Context("ana"), "S1", sample, "ASSAY", value, "%", "1", "ana")
    return str(bus.handle(entered))


def _seen(uow: FakeUnitOfWork, code: str) -> c.SeenResult:
    sample = next(s for s in uow.records.find(Sample) if code.startswith(s.code))
    return c.SeenResult(code, content_hash(result_content(sample, sample.result(code))))


def test_one_signature_check_signs_each_result_on_its_own_content(
    bus: MessageBus, uow: FakeUnitOfWork
) -> None:
    codes = [_entered(bus, "REQ-1", "99.1"), _entered(bus, "REQ-2", "99.4")]
    listed = tuple(_seen(uow, code) for code in codes)
    assert bus.handle(c.ApproveResults(c.Context("rev"), "S1", listed, SIGNATURE)) == codes
    signed = {s.record_id: s.content_hash for s in uow.records.find(Signature)}
    assert signed == {one.result: one.seen_content for one in listed}
    assert len(set(signed.values())) == 2


@pytest.mark.parametrize(
    ("which", "error", "reason", "field"),
    [
        ("none", InvalidInput, "results.count", "results"),
        ("twice", InvalidInput, "results.duplicate", "results"),
        ("changed", Conflict, "result.changed_since_shown", "seen_content"),
    ],
)
def test_a_list_is_refused_whole_naming_the_field_and_the_rule(
    bus: MessageBus,
    uow: FakeUnitOfWork,
    which: str,
    error: type[LabgateError],
    reason: str,
    field: str,
) -> None:
    first = _seen(uow, _entered(bus, "REQ-1", "99.1"))
    second = _seen(uow, _entered(bus, "REQ-2", "99.4"))
    listed = {"none": (), "twice": (first, first),
              "changed": (first, c.SeenResult(second.result, "0" * 64))}[which]  # fmt: skip
    with pytest.raises(error) as refused:
        bus.handle(c.ApproveResults(c.Context("rev"), "S1", listed, SIGNATURE))
    assert (refused.value.reason, refused.value.field) == (reason, field)
    named = {"none": "listed 0", "twice": first.result, "changed": second.result}[which]
    assert named in str(refused.value)
    assert uow.records.find(Signature) == []
