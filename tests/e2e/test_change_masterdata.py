"""Master data that shapes interfaced data under change control, through the API on SQLite and
PostgreSQL: a change of kind masterdata raised with a document in the import's format, its
impact computed (planned field changes, the open samples it reaches), approved by QA with an
e-signature (never by its author), in force from its date only, samples in flight keeping what
they were bound to, and the ICD regenerated. A direct import no longer rewrites such records,
and a specification version's author is the account that loads it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from plant import PLANT, SITE, Plant, SeededPlant, refused_naming, request_sample

CR = "/change-requests"
IMPORT = "/api/v1/masterdata/import"
ASSAY = {**PLANT["tests"][0]}
# M-ASSAY v3 rounds half to even (ASTM E29) where v1 rounds half up (USP); ASSAY moves to it,
# and the LIMS gets a new code for it.
ROUNDING_CHANGE: dict[str, Any] = {
    "methods": [{"code": "M-ASSAY", "versions": [{"version": "3", "rounding_rule": "astm-e29"}]}],
    "tests": [{**ASSAY, "method_version": "3"}],
    "aliases": [{"system": "LIMS", "kind": "test", "external": "HPLC-ASY3", "canonical": "ASSAY"}],
}


@pytest.fixture
def plant(seeded_plant: SeededPlant, client: TestClient) -> Plant:
    return seeded_plant.on(client)


def _raise(plant: Plant, document: dict[str, Any], **extra: Any) -> Any:
    body = {"kind": "masterdata", "title": "ASSAY to M-ASSAY v3", "reason": "Method transfer MT-9",
            "proposal": {"document": document}, **extra}  # fmt: skip
    return plant.call("admin", "POST", CR, json=body)


def _planned_test(plant: Plant, sample: str, test: str = "ASSAY") -> dict[str, Any]:
    found = plant.call("auditor", "GET", f"/samples/{sample}").json()
    planned: dict[str, Any] = next(p for p in found["tests"] if p["test_code"] == test)
    return planned


def _precision(plant: Plant, unit: str) -> int:
    exported = plant.call("auditor", "GET", "/masterdata").json()
    return int(next(u for u in exported["units"] if u["code"] == unit)["precision"])


def _icd_versions(plant: Plant) -> int:
    answer = plant.call("auditor", "GET", "/icd")
    assert answer.status_code == 200, answer.text
    return len(answer.json()["versions"])


def _trail(hub: Hub, record_id: str) -> list[tuple[str, str]]:
    a = t.audit_entries.c
    with hub.sessions() as session:
        rows = session.execute(
            select(a.action, a.reason).where(a.record_id == record_id).order_by(a.seq)
        )
        return [(action, reason) for action, reason in rows]


@pytest.mark.requirement("URS-A11-10", "URS-TX-001", "URS-TX-004")
def test_a_masterdata_change_is_assessed_approved_and_in_force_from_its_date(
    plant: Plant, hub: Hub, clock: ManualClock
) -> None:
    in_flight = request_sample(plant, "MD-1")
    assert _planned_test(plant, in_flight)["rounding_rule"] == "usp"
    when = clock.now() + timedelta(hours=1)
    raised = _raise(plant, ROUNDING_CHANGE, effective_from=when.isoformat())
    assert raised.status_code == 201, raised.text
    code = raised.json()["code"]

    assessed = plant.call("admin", "POST", f"{CR}/{code}/assessment")
    assert assessed.status_code == 200, assessed.text
    impact = assessed.json()["assessment"]
    assert f"{SITE}/{in_flight}" in impact["open_samples"]
    assert f"{SITE}/B1" in impact["open_batches"]
    assert "labgate.sample_request.v1" in impact["message_types"]["inbound"]
    assert "URS-A11-10" in {r["id"] for r in impact["requirements"]}
    changed = {(c["record_type"], c["record_id"], c["outcome"]): c["fields"]
               for c in impact["planned_changes"]}  # fmt: skip
    assert {"name": "current_method_version", "before": "1", "after": "3"} in changed[
        ("test", "ASSAY", "updated")
    ]
    assert {"name": "rounding_rule", "before": None, "after": "astm-e29"} in changed[
        ("method", "M-ASSAY v3", "created")
    ]

    # Its author cannot approve it (no role may both author and approve, nor may the author).
    own = plant.call("admin", "POST", f"{CR}/{code}/approval",
                     json={"signature": plant.signature("admin")})  # fmt: skip
    assert own.status_code == 403, own.text
    approved = plant.call("qa", "POST", f"{CR}/{code}/approval",
                          json={"signature": plant.signature("qa")})  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"  # its date not reached: nothing in force

    before = request_sample(plant, "MD-2")
    assert (_planned_test(plant, before)["method_version"],
            _planned_test(plant, before)["rounding_rule"]) == ("1", "usp")  # fmt: skip
    icd_before = _icd_versions(plant)

    clock.advance(hours=2)
    plant.tokens.clear()  # the sign-ins of an hour ago have expired
    due = plant.call("qa", "POST", f"{CR}/apply-due")
    assert due.status_code == 200 and due.json()["applied"] == [code], due.text
    after = request_sample(plant, "MD-3")
    assert (_planned_test(plant, after)["method_version"],
            _planned_test(plant, after)["rounding_rule"]) == ("3", "astm-e29")  # fmt: skip
    # Bound before the change: the samples in flight keep their method version and rounding.
    for bound in (in_flight, before):
        assert (_planned_test(plant, bound)["method_version"],
                _planned_test(plant, bound)["rounding_rule"]) == ("1", "usp")  # fmt: skip
    assert plant.call("auditor", "GET", f"{CR}/{code}").json()["state"] == "effective"
    why = f"change request {code}: ASSAY to M-ASSAY v3"
    assert ("masterdata.updated", why) in _trail(hub, "ASSAY")
    assert ("masterdata.created", why) in _trail(hub, "M-ASSAY v3")
    # What came into force is in the next ICD version.
    assert _icd_versions(plant) == icd_before + 1
    said = plant.call("auditor", "GET", "/icd/changes").json()
    assert "HPLC-ASY3" in str(said["changes"])


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_a_masterdata_proposal_is_checked_as_the_import_checks_it(plant: Plant) -> None:
    cases = [
        ({"specifications": []}, "change.invalid_proposal", "proposal.document.specifications"),
        ({"site": PLANT["site"]}, "change.invalid_proposal", "proposal.document"),
        ({"tests": [{**ASSAY, "method_version": "9"}]}, "masterdata.unknown_reference",
         "proposal.document.tests[0].method_version"),
        ({"units": [{"code": "%", "expression": "percent"}]}, "masterdata.required",
         "proposal.document.units[0].precision"),
        ({"site": {"code": "ELSEWHERE", "name": "x"}, "units": PLANT["units"][:1]},
         "change.invalid_proposal", "proposal.document.site.code"),
    ]  # fmt: skip
    refused_naming(lambda given: _raise(plant, given), cases)
    assert plant.call("auditor", "GET", CR).json()["items"] == []


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_a_direct_import_creates_but_never_rewrites_a_governed_record(
    plant: Plant, hub: Hub
) -> None:
    percent = {**PLANT["units"][0], "precision": 2}
    document = {"site": PLANT["site"], "units": [PLANT["units"][1], percent]}
    refused = plant.call(
        "admin", "POST", IMPORT, json={"document": document, "reason": "CR-3: finer percent"}
    )
    assert refused.status_code == 409, refused.text
    assert (refused.json()["reason"], refused.json()["field"]) == (
        "masterdata.change_request_required", "units[1]",
    )  # fmt: skip
    assert "change request of kind masterdata" in refused.json()["detail"]
    assert _precision(plant, "%") == 1
    new = {"code": "mg", "expression": "mg", "precision": 2, "kind": "mass", "name": "milligram"}
    created = plant.call("admin", "POST", IMPORT,
                         json={"document": {"site": PLANT["site"], "units": [new]},
                               "reason": "CR-4: a new unit"})  # fmt: skip
    assert created.status_code == 200, created.text
    # The honest route: the same update through a change request.
    raised = _raise(plant, {"units": [percent]})
    assert raised.status_code == 201, raised.text
    code = raised.json()["code"]
    assert plant.call("admin", "POST", f"{CR}/{code}/assessment").status_code == 200
    approved = plant.call("qa", "POST", f"{CR}/{code}/approval",
                          json={"signature": plant.signature("qa")})  # fmt: skip
    assert approved.json()["state"] == "effective", approved.text
    assert _precision(plant, "%") == 2


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_a_spec_versions_author_is_the_account_that_loads_it(plant: Plant) -> None:
    v2 = PLANT["specifications"][0]["versions"][1]

    def load(written: dict[str, Any]) -> Any:
        document = {"site": PLANT["site"],
                    "specifications": [{"code": "SPEC-A", "versions": [written]}]}  # fmt: skip
        return plant.call(
            "admin", "POST", IMPORT, json={"document": document, "reason": "CR-5: tighter assay"}
        )

    forged = load({"version": 3, "author": "author1", "limits": v2["limits"]})
    assert forged.status_code == 422, forged.text
    assert (forged.json()["reason"], forged.json()["field"]) == (
        "spec.author_not_account", "specifications[0].versions[0].author",
    )  # fmt: skip
    assert load({"version": 3, "limits": v2["limits"]}).status_code == 200
    shown = plant.call("auditor", "GET", "/specifications/SPEC-A/versions/3").json()
    assert shown["author"] == "admin"
    assert load({"version": 3, "author": "admin", "limits": v2["limits"]}).status_code == 200
    # A stored version's author is stated only as stored (export writes it so).
    stored = load({"version": 3, "author": "qa", "limits": v2["limits"]})
    assert stored.status_code == 422 and stored.json()["reason"] == "spec.author_not_account"
