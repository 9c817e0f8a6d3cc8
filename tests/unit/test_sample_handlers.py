"""Sample and result use cases over the real bus, with a fake unit of work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fakes import FakeUnitOfWork, ManualClock, TableUnits
from labgate.compliance.access import Account
from labgate.compliance.passwords import hash_password
from labgate.domain import commands as c
from labgate.domain.batches import Batch, SamplingPoint
from labgate.domain.errors import (
    Conflict,
    InvalidInput,
    LabgateError,
    MalformedNumber,
    MethodVersionMismatch,
    NotFound,
    SegregationOfDuties,
    UnitError,
)
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import (
    LimitLine,
    MethodVersion,
    Product,
    SpecVersion,
    TestDefinition,
)
from labgate.domain.numbers import RoundingRule
from labgate.domain.sampling import RELEASE_SET, SamplingPlan
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
    spec.plans = [SamplingPlan("SP", RELEASE_SET, ["ASSAY"])]
    r.add(spec)
    r.add(Batch("S1", "B1", "P1", "PROC"))
    r.add(SamplingPoint("S1", "SP", "PROC", "PROC/UP/OP/PH"))
    for name, role in (("ana", "qc_analyst"), ("rev", "qc_reviewer")):
        r.add(Account(name, name.title(), [role], password_hash=hash_password(PASSWORD)))
    return fake


@pytest.fixture
def bus(uow: FakeUnitOfWork) -> MessageBus:
    units = TableUnits({("mg/g", "%"): "0.1"})
    return MessageBus(lambda: uow, Deps(ManualClock(AT), lambda _expressions: units))


def registered(bus: MessageBus, request_id: str = "REQ-1") -> str:
    command = c.RequestSample(
        c.Context("mes", "system"),
        "S1",
        request_id,
        "P1",
        AT,
        batch="B1",
        sampling_point="SP",
        register_now=True,
    )
    code: str = bus.handle(command)
    return code


def result(sample: str, value: str = "98.5", unit: str | None = "%", **kw: str) -> c.RecordResult:
    return c.RecordResult(
        c.Context(kw.get("analyst", "ana")),
        "S1",
        sample,
        "ASSAY",
        value,
        unit,
        kw.get("version", "1"),
        kw.get("analyst", "ana"),
    )


@pytest.mark.requirement("URS-TX-001")
def test_a_request_binds_the_spec_and_plans_the_tests(bus: MessageBus, uow: FakeUnitOfWork) -> None:
    code = registered(bus)
    [sample] = [r for r in uow.records.rows if getattr(r, "code", None) == code]
    assert (sample.spec_ref, [t.test_code for t in sample.tests]) == ("SPEC v1", ["ASSAY"])  # type: ignore[attr-defined]
    assert [m.message_type for m in uow.sent] == ["sample_registration"]
    assert uow.audit_log[-1].action == "sample.requested"


@pytest.mark.requirement("URS-TX-010", category="negative")
def test_a_resent_request_changes_nothing(bus: MessageBus, uow: FakeUnitOfWork) -> None:
    first, sent = registered(bus), len(uow.sent)
    assert registered(bus) == first
    assert len(uow.sent) == sent
    assert uow.audit_log[-1].action == "sample.request_duplicate"


@pytest.mark.parametrize(
    ("command", "error", "reason", "field"),
    [
        (lambda s: result(s, value="98,5"), MalformedNumber, "number.malformed", "value"),
        (lambda s: result(s, unit="furlong"), UnitError, "unit.unknown", "unit"),
        (
            lambda s: result(s, version="2"),
            MethodVersionMismatch,
            "result.method_version_mismatch",
            "method_version",
        ),
        (
            lambda s: c.RecordResult(c.Context("ana"), "S1", s, "NOPE", "1", "%", "1", "ana"),
            NotFound,
            "test.unknown",
            "test_code",
        ),
        (
            lambda s: c.RecordResult(
                c.Context("ana"), "S1", "S-999999", "ASSAY", "1", "%", "1", "ana"
            ),
            NotFound,
            "sample.unknown",
            "sample",
        ),
    ],
)
@pytest.mark.requirement("URS-TX-004", "URS-A11-5", category="negative")
def test_bad_results_are_refused_audited_and_change_nothing(
    bus: MessageBus,
    uow: FakeUnitOfWork,
    command: object,
    error: type[LabgateError],
    reason: str,
    field: str,
) -> None:
    sample = registered(bus)
    committed, sent = uow.committed, len(uow.sent)
    with pytest.raises(error) as refused:
        bus.handle(command(sample))  # type: ignore[operator]
    assert (refused.value.reason, refused.value.field) == (reason, field)
    assert len(uow.sent) == sent
    assert uow.committed == committed + 1  # only the refusal's own audit entry
    assert uow.audit_log[-1].action.startswith("refused.")
    assert uow.audit_log[-1].after == {"reason_code": reason, "field": field}


@pytest.mark.requirement("URS-TX-004")
def test_unit_is_converted_and_the_factor_recorded(bus: MessageBus, uow: FakeUnitOfWork) -> None:
    sample = registered(bus)
    code = bus.handle(result(sample, value="985.4", unit="mg/g"))
    [stored] = [r for r in uow.records.rows if getattr(r, "code", None) == sample]
    found = stored.result(code)  # type: ignore[attr-defined]
    assert (str(found.canonical_value), str(found.conversion_factor)) == ("98.54", "0.1")
    assert (str(found.reported_value), found.conforms) == ("98.5", True)


@pytest.mark.requirement("URS-A11-6", category="negative")
def test_reviewer_is_never_the_analyst(bus: MessageBus) -> None:
    sample = registered(bus)
    code = bus.handle(result(sample))
    signature = c.SignatureInput("ana", PASSWORD, "approved")
    with pytest.raises(LabgateError) as refused:
        bus.handle(c.ApproveResult(c.Context("ana"), "S1", code, signature))
    # an analyst lacks the approve permission; a reviewer-analyst would hit segregation of duties
    assert refused.value.reason == "access.missing_permission"


@pytest.mark.requirement("URS-A11-6", "URS-P11-11.10g", category="negative")
def test_segregation_holds_even_for_someone_with_both_roles(
    bus: MessageBus, uow: FakeUnitOfWork
) -> None:
    uow.records.add(
        Account(
            "both", "Both", ["qc_analyst", "qc_reviewer"], password_hash=hash_password(PASSWORD)
        )
    )
    sample = registered(bus)
    code = bus.handle(result(sample, analyst="both"))
    with pytest.raises(SegregationOfDuties) as refused:
        bus.handle(
            c.ApproveResult(
                c.Context("both"), "S1", code, c.SignatureInput("both", PASSWORD, "approved")
            )
        )
    assert refused.value.reason == "result.reviewer_is_analyst"


@pytest.mark.requirement("URS-P11-11.200a", category="negative")
def test_a_wrong_signature_password_is_refused_and_counted(
    bus: MessageBus, uow: FakeUnitOfWork
) -> None:
    sample = registered(bus)
    code = bus.handle(result(sample))
    for _ in range(5):
        with pytest.raises(LabgateError) as refused:
            bus.handle(
                c.ApproveResult(
                    c.Context("rev"), "S1", code, c.SignatureInput("rev", "wrong", "approved")
                )
            )
        assert refused.value.reason in ("signature.bad_credentials", "auth.locked")
    reviewer = uow.records.get(Account, username="rev")
    assert reviewer is not None and reviewer.locked_at == AT
    assert any(d.action == "account.locked" for d in uow.audit_log)


@pytest.mark.requirement("URS-TX-003", category="negative")
def test_cancelled_samples_take_no_results_and_cancelling_needs_a_reason(bus: MessageBus) -> None:
    sample = registered(bus)
    with pytest.raises(InvalidInput) as no_reason:
        bus.handle(c.CancelSample(c.Context("ana"), "S1", sample, "  "))
    assert no_reason.value.reason == "input.reason_required"
    bus.handle(c.CancelSample(c.Context("ana"), "S1", sample, "container broken"))
    with pytest.raises(Conflict) as refused:
        bus.handle(result(sample))
    assert refused.value.reason == "sample.cancelled"


def test_leaving_without_commit_rolls_back(uow: FakeUnitOfWork) -> None:
    with uow:
        uow.audit(object())  # type: ignore[arg-type]
    assert (uow.committed, uow.audit_log) == (0, [])
