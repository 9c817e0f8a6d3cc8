"""The reason rule and the role policy, as plain functions."""

from __future__ import annotations

import pytest

from labgate.compliance.access import (
    DEFAULT_POLICY,
    Role,
    check_role_policy,
    role_conflicts,
)
from labgate.domain.errors import InvalidInput, SegregationOfDuties
from labgate.domain.reasons import require_reason


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, "input.reason_required"),
        ("   ", "input.reason_required"),
        ("0", "input.reason_too_short"),
        ("x", "input.reason_too_short"),
        ("----------", "input.reason_too_short"),
        ("1234567890", "input.reason_too_short"),
        ("a         b", "input.reason_too_short"),
        ("n/a", "input.reason_too_short"),
    ],
)
@pytest.mark.requirement("URS-A11-9", category="boundary")
def test_a_reason_that_says_nothing_is_refused(text: str | None, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        require_reason(text, "rationale")
    assert (refused.value.reason, refused.value.field) == (code, "rationale")


@pytest.mark.parametrize("text", ["CR-2026-014", "vial broken", "  Entwässerung fehlt  "])
def test_a_reason_with_words_is_kept_trimmed(text: str) -> None:
    assert require_reason(text) == text.strip()


def test_the_default_policy_keeps_the_administrator_apart_from_gxp_roles() -> None:
    admin = Role.INTEGRATION_ADMIN
    for other in (Role.QA, Role.QC_REVIEWER, Role.QC_ANALYST, Role.PRODUCTION, Role.AUDITOR):
        with pytest.raises(SegregationOfDuties) as refused:
            check_role_policy(frozenset({admin, other}), DEFAULT_POLICY)
        assert (refused.value.reason, refused.value.field) == ("access.role_conflict", "roles")
    check_role_policy(frozenset({Role.QA, Role.AUDITOR}), DEFAULT_POLICY)
    dual = frozenset({Role.QC_ANALYST, Role.QC_REVIEWER})
    with pytest.raises(SegregationOfDuties):
        check_role_policy(dual, DEFAULT_POLICY)
    check_role_policy(dual, role_conflicts([["integration_admin", "qa"]]))


@pytest.mark.parametrize(
    "pairs", [[["qa", "boss"]], [["qa", "qa"]], [["qa", "auditor", "production"]]]
)
def test_a_policy_that_is_not_pairs_of_roles_is_refused(pairs: list[list[str]]) -> None:
    with pytest.raises(ValueError, match="LABGATE_ROLE_CONFLICTS"):
        role_conflicts(pairs)
