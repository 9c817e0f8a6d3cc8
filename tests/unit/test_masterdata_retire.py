"""Retiring a mapping or an alias, in the domain: the retire part's shape (each fault named by
its field), a retired record's date as a boundary, an alias that no longer resolves and a
retired mapping that no longer blocks a new one at its test and point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from labgate.domain.change_control import check_proposal
from labgate.domain.errors import Conflict, InvalidInput
from labgate.domain.masterdata import (
    Alias,
    AliasSystem,
    Mapping,
    check_no_cross_posting,
    resolve_alias,
)

AT = datetime(2027, 1, 1, tzinfo=UTC)
BY = "T1/CR-000002"


@pytest.mark.requirement("URS-A11-10")
def test_a_retire_part_is_normalised_beside_or_instead_of_a_document() -> None:
    _, alone = check_proposal("masterdata", {"retire": {"mappings": [
        {"characteristic": " C-ASSAY ", "test_code": "ASSAY"}]}})  # fmt: skip
    assert alone == {"retire": {"mappings": [
        {"characteristic": "C-ASSAY", "test_code": "ASSAY", "sampling_point": None}]}}  # fmt: skip
    document = {"aliases": [{"system": "MES", "kind": "characteristic", "external": "X",
                             "canonical": "C-ASSAY"}]}  # fmt: skip
    _, both = check_proposal("masterdata", {"document": document, "retire": {"aliases": []}})
    assert both == {"document": document, "retire": {"aliases": []}}


@pytest.mark.requirement("URS-A11-10", category="negative")
@pytest.mark.parametrize(
    ("proposal", "field"),
    [
        ({"retire": "C-ASSAY"}, "proposal.retire"),
        ({"retire": {}}, "proposal"),
        ({"retire": {"mappings": {}}}, "proposal.retire.mappings"),
        ({"retire": {"tests": []}}, "proposal.retire.tests"),
        ({"retire": {"mappings": ["C-ASSAY"]}}, "proposal.retire.mappings[0]"),
        ({"retire": {"mappings": [{"characteristic": "C-ASSAY", "test_code": " "}]}},
         "proposal.retire.mappings[0].test_code"),
        ({"retire": {"aliases": [{"system": "MES", "kind": "test"}]}},
         "proposal.retire.aliases[0].external_code"),
        ({"retire": {"aliases": [{"system": "MES", "kind": "test", "external_code": "X",
                                  "why": "gone"}]}}, "proposal.retire.aliases[0].why"),
        ({"document": {}, "retire": {}}, "proposal"),
        ({"plan": {}}, "proposal.plan"),
    ],
)  # fmt: skip
def test_a_bad_retire_part_is_refused_naming_its_field(proposal: object, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_proposal("masterdata", proposal)
    assert (refused.value.reason, refused.value.field) == ("change.invalid_proposal", field)


@pytest.mark.requirement("URS-A11-10", category="boundary")
def test_a_retired_record_is_in_force_until_the_instant_of_its_date() -> None:
    mapping = Mapping("T1", "C-ASSAY", "ASSAY", None, AT, BY)
    alias = Alias("T1", AliasSystem.MES, "characteristic", "QC-ASSAY", "C-ASSAY", AT, BY)
    before = AT - timedelta(microseconds=1)
    assert mapping.in_force_at(before) and not mapping.in_force_at(AT)
    assert Mapping("T1", "C-ASSAY", "ASSAY").in_force_at(AT + timedelta(days=9000))
    code = "QC-ASSAY"
    assert resolve_alias([alias], AliasSystem.MES, "characteristic", code, before) == "C-ASSAY"
    assert resolve_alias([alias], AliasSystem.MES, "characteristic", code, AT) == code


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_a_retired_mapping_no_longer_blocks_a_new_one_at_its_test_and_point() -> None:
    old = Mapping("T1", "C-ASSAY", "ASSAY")
    new = Mapping("T1", "C-ASSAY-2", "ASSAY")
    with pytest.raises(Conflict):
        check_no_cross_posting(new, [old])
    old.retired_from, old.retired_by = AT, BY
    check_no_cross_posting(new, [old])
