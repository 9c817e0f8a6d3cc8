"""Change requests: their lifecycle, their proposals, and segregation of duties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from labgate.domain.change_control import (
    ChangeKind,
    ChangeRequest,
    ChangeState,
    check_proposal,
)
from labgate.domain.errors import InvalidInput, InvalidTransition, SegregationOfDuties
from labgate.domain.status_map import DEFAULT_STATUS_RULES

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
RULES = [
    {
        "lims_status": r.lims_status.value,
        "outcome": r.outcome.value,
        "mes_status": r.mes_status.value,
    }
    for r in DEFAULT_STATUS_RULES
]


def _request(effective_from: datetime | None = None) -> ChangeRequest:
    kind, proposal = check_proposal("status_map", {"rules": RULES})
    return ChangeRequest("S1", "CR-000001", kind, "New map", "Plant decision", proposal,
                         "integrator", T0, effective_from)  # fmt: skip


@pytest.mark.requirement("URS-A11-10", "URS-P11-11.10f")
def test_a_request_moves_draft_assessed_approved_effective() -> None:
    cr = _request()
    cr.assess({"open_samples": []}, "a" * 64, T0)
    cr.approve("qa", T0 + timedelta(hours=1))
    assert cr.state is ChangeState.APPROVED
    assert cr.effective_from == T0 + timedelta(hours=1)  # none given: from its approval
    assert cr.is_due(T0 + timedelta(hours=1))
    cr.make_effective(T0 + timedelta(hours=1))
    assert cr.state is ChangeState.EFFECTIVE


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_the_author_cannot_approve_their_own_request() -> None:
    cr = _request()
    cr.assess({}, "a" * 64, T0)
    with pytest.raises(SegregationOfDuties) as refused:
        cr.approve("integrator", T0)
    assert refused.value.reason == "change.approver_is_author"
    assert cr.state is ChangeState.ASSESSED


@pytest.mark.requirement("URS-P11-11.10f", category="negative")
def test_nothing_is_approved_unassessed_nor_made_effective_unapproved() -> None:
    cr = _request()
    with pytest.raises(InvalidTransition) as refused:
        cr.approve("qa", T0)
    assert refused.value.reason == "change_request.invalid_transition"
    with pytest.raises(InvalidTransition):
        cr.make_effective(T0)
    assert not cr.is_due(T0 + timedelta(days=1000))


@pytest.mark.requirement("URS-A11-10", category="boundary")
def test_effective_from_before_the_approval_is_refused() -> None:
    cr = _request(T0 - timedelta(seconds=1))
    cr.assess({}, "a" * 64, T0)
    with pytest.raises(InvalidInput) as refused:
        cr.approve("qa", T0)
    assert (refused.value.reason, refused.value.field) == (
        "change.effective_before_approval",
        "effective_from",
    )
    later = _request(T0 + timedelta(days=1))
    later.assess({}, "a" * 64, T0)
    later.approve("qa", T0)
    assert not later.is_due(T0) and later.is_due(T0 + timedelta(days=1))


def test_withdrawn_and_rejected_are_final_and_need_a_reason() -> None:
    cr = _request()
    with pytest.raises(InvalidInput):
        cr.close(ChangeState.WITHDRAWN, "integrator", T0, "")
    cr.close(ChangeState.WITHDRAWN, "integrator", T0, "Raised by mistake")
    with pytest.raises(InvalidTransition):
        cr.assess({}, "a" * 64, T0)


@pytest.mark.parametrize(
    ("kind", "proposal", "field"),
    [
        ("colour", {}, "kind"),
        ("status_map", {"rules": []}, "proposal.rules"),
        ("status_map", {"rules": [{**RULES[0], "outcome": "maybe"}]}, "proposal.rules[0].outcome"),
        ("status_map", {"rules": RULES[1:]}, "status_map"),  # no rule for preliminary
        ("spec_retirement", {"specification": "SP-1", "version": 0}, "proposal.version"),
        ("method_deprecation", {"method": "M-1"}, "proposal.version"),
        ("masterdata", {"document": {"batches": []}}, "proposal.document.batches"),
        ("masterdata", {"document": {"site": {"code": "S1"}}}, "proposal.document"),
        ("masterdata", {"rules": []}, "proposal.rules"),
    ],
)
@pytest.mark.requirement("URS-A11-5", category="negative")
def test_a_proposal_is_checked_per_kind_naming_the_field(
    kind: str, proposal: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_proposal(kind, proposal)
    assert refused.value.field == field


def test_a_proposal_is_normalised() -> None:
    kind, proposal = check_proposal("spec_retirement", {"specification": " SP-1 ", "version": 2})
    assert (kind, proposal) == (ChangeKind.SPEC_RETIREMENT, {"specification": "SP-1", "version": 2})
