"""Master-data import under change control, export round trip, spec approval and effect."""

from __future__ import annotations

import copy
import json
import pathlib
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import pytest
import yaml

from fakes import ManualClock
from labgate.compliance.access import Account
from labgate.compliance.canonical import content_hash
from labgate.compliance.passwords import hash_password
from labgate.compliance.signatures import Meaning, Signature
from labgate.domain.commands import (
    ApproveSpecVersion,
    Context,
    ImportMasterData,
    MakeSpecVersionEffective,
    SignatureInput,
)
from labgate.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidLimit,
    InvalidTransition,
    LabgateError,
    SegregationOfDuties,
    Unauthenticated,
    UnitError,
)
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import MethodVersion, Product, SpecVersion
from labgate.service.deps import Deps
from labgate.service.handlers.masterdata import (
    ImportSummary,
    approve_spec_version,
    export_masterdata,
    import_masterdata,
    make_spec_effective,
    spec_content,
)

# tests/ holds the shared fakes; put it on the path without relying on a conftest.
sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from fakes import FakeUnitOfWork, TableUnits

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ADMIN = Context("ian", correlation_id="corr-1")
PASSWORD = "correct horse battery staple"

DEMO_COUNTS = {
    "site": 1,
    "units": 6,
    "materials": 9,
    "lots": 4,
    "methods": 7,
    "tests": 6,
    "specifications": 4,
    "products": 2,
    "characteristics": 7,
    "locations": 3,
    "equipment": 6,
    "procedures": 2,
    "sampling_points": 8,
    "mappings": 9,
    "aliases": 7,
    "batches": 4,
}


@cache
def _plant_text() -> str:
    return (resources.files("labgate.demo") / "plant.yaml").read_text(encoding="utf-8")


def plant() -> dict[str, Any]:
    """A fresh copy of the demo plant document."""
    return copy.deepcopy(yaml.safe_load(_plant_text()))


@cache
def _hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: hash once


@pytest.fixture
def uow() -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    for username, roles in [("alice", ["qa"]), ("quinn", ["qa"]), ("carl", ["qc_analyst"])]:
        fake.records.add(Account(username, username.title(), roles, password_hash=_hash()))
    return fake


@pytest.fixture
def deps() -> Deps:
    return Deps(clock=ManualClock(START), unit_converter=lambda _units: TableUnits({}))


def load(
    uow: FakeUnitOfWork, deps: Deps, document: dict[str, Any], reason: str = "initial load"
) -> ImportSummary:
    return import_masterdata(ImportMasterData(ADMIN, document, reason), uow, deps)


def approve(uow: FakeUnitOfWork, deps: Deps, who: str, version: int = 1, **sig: str) -> str:
    signature = SignatureInput(who, sig.get("password", PASSWORD), sig.get("meaning", "approved"))
    cmd = ApproveSpecVersion(Context(who), "PLT1", "SPEC-IBU-400", version, signature)
    return approve_spec_version(cmd, uow, deps)


def make_effective(uow: FakeUnitOfWork, deps: Deps, version: int = 1) -> str:
    moment = datetime(2026, 4, 1, tzinfo=UTC)
    cmd = MakeSpecVersionEffective(
        ADMIN, "PLT1", "SPEC-IBU-400", version, moment, "CC-0042: in force"
    )
    return make_spec_effective(cmd, uow, deps)


def spec(uow: FakeUnitOfWork, version: int = 1) -> SpecVersion:
    found = uow.records.get(SpecVersion, site="PLT1", specification="SPEC-IBU-400", version=version)
    assert found is not None
    return found


def assert_refused(
    uow: FakeUnitOfWork,
    attempt: Callable[[], object],
    error: type[LabgateError],
    reason: str,
    field: str | None,
) -> None:
    """The attempt raises exactly this reason at this field, and leaves no trace."""
    rows, committed, audited = uow.records.find(object), uow.committed, len(uow.audit_log)
    with pytest.raises(error) as raised:
        attempt()
    assert (raised.value.reason, raised.value.field) == (reason, field)
    assert (uow.committed, len(uow.audit_log)) == (committed, audited)
    assert uow.records.find(object) == rows


# --- import ------------------------------------------------------------------------------------


@pytest.mark.requirement("URS-A11-12.4")
def test_demo_plant_imports_with_one_audit_entry_per_record(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    summary = load(uow, deps, plant(), reason="initial load of PLT1")

    assert {name: counts.created for name, counts in summary.sections.items()} == DEMO_COUNTS
    assert summary.changed and uow.committed == 1
    assert len(uow.audit_log) == sum(DEMO_COUNTS.values())
    assert {e.action for e in uow.audit_log} == {"masterdata.created"}
    assert {e.reason for e in uow.audit_log} == {"initial load of PLT1"}
    entry = next(e for e in uow.audit_log if e.record_type == "specification")
    assert (entry.record_id, entry.site, entry.actor) == ("SPEC-IBU-400 v1", "PLT1", "ian")
    assert all(v.status is SpecStatus.DRAFT for v in uow.records.find(SpecVersion))


def test_reimport_changes_nothing_and_writes_no_audit_entry(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    load(uow, deps, plant())
    audited = len(uow.audit_log)

    summary = load(uow, deps, plant())

    assert {name: counts.unchanged for name, counts in summary.sections.items()} == DEMO_COUNTS
    assert not summary.changed
    assert len(uow.audit_log) == audited


@pytest.mark.requirement("URS-P11-11.10k", "URS-A11-9")
def test_an_update_is_audited_with_before_and_after(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    stored = uow.records.get(Product, site="PLT1", code="IBU-400")
    document = plant()
    document["products"][0]["name"] = "Ibuprofen 400 mg tablets (new artwork)"

    summary = load(uow, deps, document, reason="CC-0051 new artwork")

    assert (summary["products"].updated, summary["products"].unchanged) == (1, 1)
    assert stored is not None and stored.name == "Ibuprofen 400 mg tablets (new artwork)"
    entry = uow.audit_log[-1]
    assert (entry.action, entry.record_type, entry.record_id) == (
        "masterdata.updated",
        "product",
        "IBU-400",
    )
    assert entry.before is not None and entry.after is not None
    assert entry.before["name"] == "Ibuprofen 400 mg film-coated tablets"
    assert entry.after["name"] == "Ibuprofen 400 mg tablets (new artwork)"
    assert entry.reason == "CC-0051 new artwork"


def test_a_draft_spec_version_may_change_its_limits(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    document = plant()
    document["specifications"][0]["versions"][1]["limits"][1]["limit"] = "NMT 2.2"

    lines = list(spec(uow, 2).limits)

    summary = load(uow, deps, document)

    assert summary["specifications"].updated == 1
    assert spec(uow, 2).limit_for("WATER").limit == "NMT 2.2"
    # Rewritten in place, never replaced: the store refuses to delete a limit line.
    assert all(a is b for a, b in zip(spec(uow, 2).limits, lines, strict=True))


def test_a_draft_spec_version_keeps_every_sampling_plan(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    document = plant()
    del document["specifications"][0]["versions"][1]["sampling_plans"][2]

    assert_refused(
        uow,
        lambda: load(uow, deps, document),
        Conflict,
        "sampling_plan.removed",
        "specifications[0].versions[1].sampling_plans",
    )


def test_a_draft_sampling_plan_changes_in_place(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    stored = spec(uow, 2).plans
    document = plant()
    document["specifications"][0]["versions"][1]["sampling_plans"][2]["tests"] = ["APPEAR", "BU"]

    assert (
        load(uow, deps, document, "CR-31: blend checked at the press too")["specifications"].updated
        == 1
    )
    assert spec(uow, 2).plans[2].tests == ["APPEAR", "BU"]
    assert all(a is b for a, b in zip(spec(uow, 2).plans, stored, strict=True))


def test_a_draft_spec_version_keeps_every_limit_line(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    document = plant()
    version = document["specifications"][0]["versions"][1]
    del version["limits"][4]  # IMP-A, out of the release plan too: only the line is missing
    version["sampling_plans"][3]["tests"].remove("IMP-A")

    assert_refused(
        uow,
        lambda: load(uow, deps, document),
        Conflict,
        "spec.limit_removed",
        "specifications[0].versions[1].limits",
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the document at a dotted path with [i] indices, e.g. tests[2].name."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.replace("[", ".").replace("]", "").split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


WATER_LIMIT = "specifications[0].versions[0].limits[1]"
IBU_PLANS = "specifications[0].versions[0].sampling_plans"
REJECTIONS = [
    (_set("widgets", []), InvalidInput, "masterdata.unknown_section", "widgets"),
    (_set("site", None), InvalidInput, "masterdata.required", "site"),
    (_set("tests[2].name", " "), InvalidInput, "masterdata.required", "tests[2].name"),
    (_set("lots[0].suplier", "BASF"), InvalidInput, "masterdata.unknown_field", "lots[0].suplier"),
    (
        _set("methods[0].versions[1].version", 2),
        InvalidInput,
        "masterdata.bad_type",
        "methods[0].versions[1].version",
    ),
    (_set("units[0].precision", "two"), InvalidInput, "masterdata.bad_type", "units[0].precision"),
    (
        _set("batches[1].started_at", "2026-03-09T06:00:00"),
        InvalidInput,
        "masterdata.bad_type",
        "batches[1].started_at",
    ),
    (
        _set("tests[3].value_kind", "string"),
        InvalidInput,
        "masterdata.bad_enum",
        "tests[3].value_kind",
    ),
    (
        _set("methods[2].versions[0].rounding_rule", "bankers"),
        InvalidInput,
        "masterdata.bad_enum",
        "methods[2].versions[0].rounding_rule",
    ),
    (_set("aliases[0].system", "SAP"), InvalidInput, "masterdata.bad_enum", "aliases[0].system"),
    (_set("tests[5].code", "ASSAY"), InvalidInput, "masterdata.duplicate", "tests[5].code"),
    (
        _set("specifications[0].versions[1].version", 1),
        InvalidInput,
        "masterdata.duplicate",
        "specifications[0].versions[1].version",
    ),
    (
        _set("procedures[1].sampling_points[0].code", "SP-IBU-GRAN"),
        InvalidInput,
        "masterdata.duplicate",
        "procedures[1].sampling_points[0].code",
    ),
    (
        _set("tests[0].method_version", "9"),
        InvalidInput,
        "masterdata.unknown_reference",
        "tests[0].method_version",
    ),
    (
        _set("products[1].specification", "SPEC-NONE"),
        InvalidInput,
        "masterdata.unknown_reference",
        "products[1].specification",
    ),
    (
        _set(f"{WATER_LIMIT}.test", "LOD"),
        InvalidInput,
        "masterdata.unknown_reference",
        f"{WATER_LIMIT}.test",
    ),
    (
        _set("mappings[5].sampling_point", "SP-NOWHERE"),
        InvalidInput,
        "masterdata.unknown_reference",
        "mappings[5].sampling_point",
    ),
    (_set("tests[1].unit", "g/L"), UnitError, "unit.unknown", "tests[1].unit"),
    (
        _set(f"{WATER_LIMIT}.limit", "about 3"),
        InvalidLimit,
        "limit.invalid",
        f"{WATER_LIMIT}.limit",
    ),
    (
        _set(f"{WATER_LIMIT}.alert", "NMT two"),
        InvalidLimit,
        "limit.invalid",
        f"{WATER_LIMIT}.alert",
    ),
    (
        _set("methods[4].versions[0].sig_figs", 2),
        InvalidInput,
        "rounding.sig_figs_with_absolute",
        "methods[4].versions[0].sig_figs",
    ),
    (
        _set("procedures[0].elements[3].level", "operation"),
        InvalidInput,
        "procedure.bad_hierarchy",
        "procedures[0].elements",
    ),
    (
        _set("procedures[0].sampling_points[0].phase", "PR-IBU-400/GRAN/WET"),
        InvalidInput,
        "procedure.unknown_phase",
        "procedures[0].sampling_points[0].phase",
    ),
    (
        _set("specifications[0].versions[0].status", "approved"),
        Conflict,
        "spec.version_locked",
        "specifications[0].versions[0].status",
    ),
    (
        _set(
            "mappings[8]",
            {"characteristic": "CH-WATER-REL", "test": "WATER", "sampling_point": "SP-PCM-GRAN"},
        ),
        Conflict,
        "mapping.cross_posting",
        "mappings[8].sampling_point",
    ),
    # Sampling plans: a planned test needs a line in the plan's limit set (BU is IPC-only),
    # a plan names a known sampling point, and a version has one plan per point.
    (
        _set(f"{IBU_PLANS}[3].tests", ["ASSAY", "BU"]),
        InvalidInput,
        "sampling_plan.test_without_limit",
        f"{IBU_PLANS}[3].tests[1]",
    ),
    (
        _set(f"{IBU_PLANS}[0].sampling_point", "SP-NOWHERE"),
        InvalidInput,
        "masterdata.unknown_reference",
        f"{IBU_PLANS}[0].sampling_point",
    ),
    (
        _set(f"{IBU_PLANS}[1].sampling_point", "SP-IBU-GRAN"),
        InvalidInput,
        "sampling_plan.duplicate_point",
        f"{IBU_PLANS}[1].sampling_point",
    ),
    (
        _set(f"{IBU_PLANS}[0].tests", []),
        InvalidInput,
        "sampling_plan.no_tests",
        f"{IBU_PLANS}[0].tests",
    ),
]


@pytest.mark.parametrize(("change", "error", "reason", "field"), REJECTIONS)
def test_a_faulty_document_is_refused_whole(
    uow: FakeUnitOfWork,
    deps: Deps,
    change: Callable[[dict[str, Any]], None],
    error: type[LabgateError],
    reason: str,
    field: str,
) -> None:
    document = plant()
    change(document)
    assert_refused(uow, lambda: load(uow, deps, document), error, reason, field)


@pytest.mark.requirement("URS-A11-9", category="negative")
def test_a_reason_is_required(uow: FakeUnitOfWork, deps: Deps) -> None:
    assert_refused(
        uow,
        lambda: load(uow, deps, plant(), reason="  "),
        InvalidInput,
        "input.reason_required",
        "reason",
    )


def test_a_mapping_that_cross_posts_with_a_stored_one_is_refused(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    load(uow, deps, plant())
    document = {
        "site": {"code": "PLT1", "name": "Basel plant"},
        "mappings": [{"characteristic": "CH-WATER-REL", "test": "WATER", "sampling_point": None}],
    }
    assert_refused(
        uow,
        lambda: load(uow, deps, document),
        Conflict,
        "mapping.cross_posting",
        "mappings[0].sampling_point",
    )


@pytest.mark.requirement("URS-P11-11.10k", category="negative")
def test_a_stored_method_version_never_changes(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    document = plant()
    document["methods"][0]["versions"][1]["rounding_rule"] = "astm-e29"

    field = "methods[0].versions[1].rounding_rule"
    assert_refused(
        uow, lambda: load(uow, deps, document), Conflict, "masterdata.method_version_locked", field
    )
    stored = uow.records.get(MethodVersion, site="PLT1", method="M-HPLC-01", version="2")
    assert stored is not None and stored.rounding_rule.value == "usp"


def test_nothing_is_half_applied(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    document = plant()
    document["products"][0]["name"] = "Renamed before the refusal"
    document["methods"][0]["versions"][1]["sig_figs"] = 4

    field = "methods[0].versions[1].sig_figs"
    assert_refused(
        uow, lambda: load(uow, deps, document), Conflict, "masterdata.method_version_locked", field
    )
    stored = uow.records.get(Product, site="PLT1", code="IBU-400")
    assert stored is not None and stored.name == "Ibuprofen 400 mg film-coated tablets"


def test_an_approved_spec_version_is_locked(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    approve(uow, deps, "quinn")
    document = plant()
    document["specifications"][0]["versions"][0]["limits"][0]["limit"] = "90.0-110.0"

    assert_refused(
        uow,
        lambda: load(uow, deps, document),
        Conflict,
        "spec.version_locked",
        "specifications[0].versions[0].limits",
    )
    assert spec(uow).limit_for("ASSAY").limit == "95.0-105.0"


# --- export ------------------------------------------------------------------------------------


@pytest.mark.requirement("URS-P11-11.10b", "URS-A11-4")
def test_export_reimports_with_every_record_unchanged(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    approve(uow, deps, "quinn")
    make_effective(uow, deps)
    audited = len(uow.audit_log)

    exported = export_masterdata(uow, "PLT1")
    through_yaml = yaml.safe_load(yaml.safe_dump(json.loads(json.dumps(exported))))
    summary = load(uow, deps, through_yaml)

    assert {name: counts.unchanged for name, counts in summary.sections.items()} == DEMO_COUNTS
    assert not summary.changed and len(uow.audit_log) == audited
    version = exported["specifications"][0]["versions"][0]
    assert (version["status"], version["approver"]) == ("effective", "quinn")
    assert version["effective_from"] == "2026-04-01T00:00:00.000000Z"


def test_an_exported_status_that_differs_from_the_store_is_refused(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    load(uow, deps, plant())
    exported = export_masterdata(uow, "PLT1")
    exported["specifications"][0]["versions"][0]["approver"] = "quinn"

    assert_refused(
        uow,
        lambda: load(uow, deps, exported),
        Conflict,
        "spec.version_locked",
        "specifications[0].versions[0].approver",
    )


# --- approval and effect -----------------------------------------------------------------------


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_the_author_cannot_approve_their_own_version(uow: FakeUnitOfWork, deps: Deps) -> None:
    # Alice (QA) loads the version herself, so she is its author: her signature is refused.
    import_masterdata(ImportMasterData(Context("alice"), plant(), "initial load"), uow, deps)
    assert spec(uow).author == "alice"
    assert_refused(
        uow,
        lambda: approve(uow, deps, "alice"),
        SegregationOfDuties,
        "spec.approver_is_author",
        "approver",
    )
    assert spec(uow).status is SpecStatus.DRAFT


def test_approval_needs_the_approve_spec_permission(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    assert_refused(
        uow,
        lambda: approve(uow, deps, "carl"),
        Forbidden,
        "access.missing_permission",
        "approve_spec",
    )


@pytest.mark.requirement("URS-P11-11.200a", category="negative")
def test_approval_with_a_wrong_password_is_refused(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    assert_refused(
        uow,
        lambda: approve(uow, deps, "quinn", password="guess"),
        Unauthenticated,
        "signature.bad_credentials",
        "password",
    )


def test_approval_needs_the_meaning_approved(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    assert_refused(
        uow,
        lambda: approve(uow, deps, "quinn", meaning="reviewed"),
        InvalidInput,
        "signature.wrong_meaning",
        "signature.meaning",
    )


def test_qa_approval_signs_the_version_content(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    audited = len(uow.audit_log)

    ref = approve(uow, deps, "quinn")

    version = spec(uow)
    assert ref == "SPEC-IBU-400 v1"
    assert (version.status, version.approver, version.approved_at) == (
        SpecStatus.APPROVED,
        "quinn",
        START,
    )
    [signature] = uow.records.find(Signature)
    assert (signature.record_type, signature.record_id, signature.signer) == (
        "specification",
        ref,
        "quinn",
    )
    assert signature.meaning is Meaning.APPROVED
    assert signature.content_hash == content_hash(spec_content(version))
    assert signature.is_valid_for(spec_content(version))
    approved, signed = uow.audit_log[audited:]
    assert (approved.action, signed.action) == ("specification.approved", "signature.applied")
    assert approved.before is not None and approved.after is not None
    assert (approved.before["status"], approved.after["status"]) == ("draft", "approved")


def test_a_changed_limit_breaks_the_signature(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    approve(uow, deps, "quinn")
    [signature] = uow.records.find(Signature)
    content = spec_content(spec(uow))
    content["limits"][0]["limit"] = "90.0-110.0"
    assert not signature.is_valid_for(content)


@pytest.mark.requirement("URS-A11-10", "URS-P11-11.10k", category="negative")
def test_a_version_becomes_effective_only_after_approval(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    assert_refused(
        uow,
        lambda: make_effective(uow, deps),
        InvalidTransition,
        "specification_version.invalid_transition",
        "status",
    )

    approve(uow, deps, "quinn")
    assert make_effective(uow, deps) == "SPEC-IBU-400 v1"

    assert spec(uow).status is SpecStatus.EFFECTIVE
    entry = uow.audit_log[-1]
    assert (entry.action, entry.reason) == ("specification.made_effective", "CC-0042: in force")
    assert entry.after is not None
    assert entry.after["effective_from"] == "2026-04-01T00:00:00.000000Z"


def test_making_a_version_effective_needs_a_reason(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    approve(uow, deps, "quinn")
    cmd = MakeSpecVersionEffective(ADMIN, "PLT1", "SPEC-IBU-400", 1, START, "")
    assert_refused(
        uow,
        lambda: make_spec_effective(cmd, uow, deps),
        InvalidInput,
        "input.reason_required",
        "reason",
    )
