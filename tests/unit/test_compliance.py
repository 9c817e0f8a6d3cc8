"""The hash chain, signatures bound to content, the status map's guard, access checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from labgate.compliance.access import ROLE_PERMISSIONS, Account, Permission, Role
from labgate.compliance.audit import GENESIS_HASH, AuditDraft, AuditEntry, seal, verify_chain
from labgate.compliance.signatures import Meaning, sign
from labgate.domain.errors import Forbidden, InvalidInput
from labgate.domain.lifecycle import ResultStatus
from labgate.domain.status_map import MesStatus, Outcome, StatusMap, StatusRule

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def chain(n: int) -> list[AuditEntry]:
    entries, prev = [], GENESIS_HASH
    for i in range(1, n + 1):
        draft = AuditDraft(
            "ana",
            "person",
            "result.recorded",
            "result",
            f"R-{i}",
            AT,
            after={"value": str(i)},
            reason="test",
        )
        entry = seal(draft, i, prev)
        entries.append(entry)
        prev = entry.hash
    return entries


@pytest.mark.requirement("URS-P11-11.10c", "URS-P11-11.10e")
def test_an_intact_chain_verifies() -> None:
    report = verify_chain(chain(5))
    assert (report.ok, report.checked) == (True, 5)


@pytest.mark.requirement("URS-P11-11.10c", "URS-P11-11.10e", category="negative")
def test_an_edited_entry_is_named() -> None:
    entries = chain(5)
    edited = replace(entries[2], draft=replace(entries[2].draft, reason="edited"))
    report = verify_chain([*entries[:2], edited, *entries[3:]])
    assert (report.ok, report.first_broken, report.checked) == (False, 3, 2)
    assert "content" in (report.problem or "")


@pytest.mark.requirement("URS-P11-11.10c", category="negative")
def test_a_removed_entry_is_named() -> None:
    entries = chain(5)
    report = verify_chain(entries[:2] + entries[3:])
    assert (report.first_broken, report.problem) == (4, "entry 3 is missing")


def test_a_resealed_entry_breaks_the_next_link() -> None:
    entries = chain(4)
    forged = seal(replace(entries[1].draft, reason="forged"), 2, entries[0].hash)
    report = verify_chain([entries[0], forged, *entries[2:]])
    assert report.first_broken == 3


@pytest.mark.requirement("URS-P11-11.10e", category="negative")
def test_the_seal_covers_every_field() -> None:
    base = chain(1)[0]
    for change in (
        {"actor": "x"},
        {"at": datetime(2026, 1, 1, tzinfo=UTC)},
        {"before": {}},
        {"payload_hash": "ab"},
        {"correlation_id": "c"},
        {"site": "S2"},
    ):
        altered = AuditEntry(1, replace(base.draft, **change), base.prev_hash, base.hash)  # type: ignore[arg-type]
        assert altered.expected_hash() != base.hash, change


@pytest.mark.requirement("URS-P11-11.70", "URS-A11-14", category="negative")
def test_a_signature_breaks_when_its_record_changes_and_cannot_move() -> None:
    content = {"result": "S-1-R1", "raw_value": "98.1"}
    signature = sign(
        site="T1",
        record_type="result",
        record_id="S-1-R1",
        content=content,
        signer="rev",
        printed_name="Rolf Reviewer",
        meaning=Meaning.APPROVED,
        at=AT,
    )
    assert signature.is_valid_for(content)
    assert not signature.is_valid_for({**content, "raw_value": "98.2"})
    assert not signature.is_valid_for({**content, "result": "S-2-R1"})


@pytest.mark.requirement("URS-TX-006", "URS-P11-11.10f", category="negative")
def test_only_approved_results_may_decide() -> None:
    with pytest.raises(InvalidInput) as refused:
        StatusMap([StatusRule(ResultStatus.PRELIMINARY, Outcome.ANY, MesStatus.ACCEPTED)])
    assert refused.value.reason == "status_map.unreviewed_decision"


@pytest.mark.requirement("URS-TX-006")
def test_the_default_status_map() -> None:
    status_map = StatusMap()
    assert status_map.mes_status(ResultStatus.PRELIMINARY, True) is MesStatus.PENDING
    assert status_map.mes_status(ResultStatus.APPROVED, True) is MesStatus.ACCEPTED
    assert status_map.mes_status(ResultStatus.APPROVED, False) is MesStatus.REJECTED
    assert status_map.mes_status(ResultStatus.INVALIDATED, True) is MesStatus.PENDING


@pytest.mark.requirement("URS-TX-006", "URS-A11-10", category="negative")
def test_an_incomplete_status_map_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no rule for invalidated"):
        StatusMap(
            [
                StatusRule(ResultStatus.PRELIMINARY, Outcome.ANY, MesStatus.PENDING),
                StatusRule(ResultStatus.APPROVED, Outcome.ANY, MesStatus.PENDING),
            ]
        )


def test_the_auditor_reads_everything_and_changes_nothing() -> None:
    assert ROLE_PERMISSIONS[Role.AUDITOR] == {
        Permission.READ,
        Permission.READ_AUDIT,
        Permission.READ_OUTBOX,
        Permission.READ_QUARANTINE,
    }


@pytest.mark.requirement("URS-P11-11.10g", "URS-A11-12.1-12.3")
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_role_permission_matrix(role: Role, permission: Permission) -> None:
    account = Account("u", "U", [role.value], "system" if "system" in role.value else "person")
    if permission in ROLE_PERMISSIONS[role]:
        account.require(permission)
    else:
        with pytest.raises(Forbidden) as refused:
            account.require(permission)
        assert refused.value.reason == "access.missing_permission"
        assert refused.value.field == permission.value
