"""Retiring a mapping or an alias through a master-data change request, through the API on
SQLite and PostgreSQL: raised with a retire part, its impact computed per retired record,
approved by QA with an e-signature, retired from its date only (in force the instant before);
from then on a sample request naming the characteristic is refused (mapping.retired) and the
MES alias no longer resolves, while samples requested before keep their mapping. Bad retire
parts, unknown and already retired records are refused; no import brings a retired record back;
a request whose every mapping and alias is retired closes as retired; the ICD lists them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from test_change_masterdata import _trail

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from plant import PLANT, SITE, Plant, SeededPlant, approved_result, refused_naming

CR = "/change-requests"
IMPORT = "/api/v1/masterdata/import"
ASSAY_MAPPING = {"characteristic": "C-ASSAY", "test_code": "ASSAY"}
MES_ALIAS = {"system": "MES", "kind": "characteristic", "external_code": "QC-ASSAY"}


@pytest.fixture
def plant(seeded_plant: SeededPlant, client: Any) -> Plant:
    made = seeded_plant.on(client)
    # The MES calls C-ASSAY QC-ASSAY: a new alias, which an import may create.
    alias = {"system": "MES", "kind": "characteristic", "external": "QC-ASSAY",
             "canonical": "C-ASSAY"}  # fmt: skip
    document = {"site": PLANT["site"], "aliases": [alias]}
    body = {"document": document, "reason": "CR-7: the MES's codes"}
    loaded = made.call("admin", "POST", IMPORT, json=body)
    assert loaded.status_code == 200, loaded.text
    return made


def _raise(plant: Plant, proposal: dict[str, Any], when: datetime | None = None) -> Any:
    body: dict[str, Any] = {
        "kind": "masterdata",
        "title": "Assay no longer reported to the MES",
        "reason": "MES recipe R-12 drops the assay",
        "proposal": proposal,
    }
    if when is not None:
        body["effective_from"] = when.isoformat()
    return plant.call("admin", "POST", CR, json=body)


def _approved(plant: Plant, proposal: dict[str, Any], when: datetime | None = None) -> str:
    raised = _raise(plant, proposal, when)
    assert raised.status_code == 201, raised.text
    code: str = raised.json()["code"]
    assessed = plant.call("admin", "POST", f"{CR}/{code}/assessment")
    assert assessed.status_code == 200, assessed.text
    approved = plant.call("qa", "POST", f"{CR}/{code}/approval",
                          json={"signature": plant.signature("qa")})  # fmt: skip
    assert approved.status_code == 200, approved.text
    return code


def _request(plant: Plant, request_id: str, *characteristics: str) -> Any:
    body = {
        "mes_request_id": request_id,
        "product": "P1",
        "sampled_at": "2026-11-24T10:00:00Z",
        "batch": "B1",
        "sampling_point": "SP-REL",
        "characteristics": list(characteristics),
    }
    return plant.call("mes", "POST", "/sample-requests", json=body)


def _sample(plant: Plant, request_id: str, *characteristics: str) -> str:
    answer = _request(plant, request_id, *characteristics)
    assert answer.status_code == 201, answer.text
    code: str = answer.json()["code"]
    registered = plant.call("lims", "POST", f"/samples/{code}/registration",
                            json={"lims_sample_id": f"L-{request_id}"})  # fmt: skip
    assert registered.status_code == 200, registered.text
    return code


def _apply_due(plant: Plant) -> list[str]:
    plant.tokens.clear()  # sign-ins of an hour ago have expired
    due = plant.call("qa", "POST", f"{CR}/apply-due")
    assert due.status_code == 200, due.text
    applied: list[str] = due.json()["applied"]
    return applied


def _refusals(hub: Hub) -> list[tuple[str, object, object]]:
    a = t.audit_entries.c
    with hub.sessions() as session:
        rows = session.execute(
            select(a.action, a.after, a.reason).where(a.action.like("refused.%"))
        )
        return [(action, after, reason) for action, after, reason in rows]


def _latest_icd(plant: Plant) -> dict[str, Any]:
    versions = plant.call("auditor", "GET", "/icd").json()["versions"]
    newest = max(v["version"] for v in versions)
    found: dict[str, Any] = plant.call("auditor", "GET", f"/icd/{newest}").json()
    return found


@pytest.mark.requirement("URS-A11-10", "URS-TX-001", "URS-TX-004")
def test_a_retired_mapping_and_alias_bind_no_new_sample_and_in_flight_samples_keep_theirs(
    plant: Plant, hub: Hub, clock: ManualClock
) -> None:
    in_flight = _sample(plant, "RT-1", "QC-ASSAY")  # the alias resolves: C-ASSAY → ASSAY
    planned = plant.call("auditor", "GET", f"/samples/{in_flight}").json()["tests"]
    assert [(p["test_code"], p["characteristic"]) for p in planned] == [("ASSAY", "C-ASSAY")]
    when = clock.now() + timedelta(hours=1)
    retire = {"retire": {"mappings": [ASSAY_MAPPING], "aliases": [MES_ALIAS]}}
    raised = _raise(plant, retire, when)
    assert raised.status_code == 201, raised.text
    code = raised.json()["code"]

    assessed = plant.call("admin", "POST", f"{CR}/{code}/assessment").json()["assessment"]
    mapping, alias = assessed["retired"]
    assert mapping["record"] == "mapping" and mapping["key"]["test_code"] == "ASSAY"
    assert mapping["open_samples"] == [f"{SITE}/{in_flight}"]  # bound by it: it keeps it
    assert mapping["open_batches"] == [f"{SITE}/B1"]
    assert mapping["retired_from"] == when.isoformat()
    assert "URS-A11-10" in mapping["requirements"]
    # An MES code resolves when a sample is requested: no open sample still depends on it.
    assert alias["record"] == "alias" and alias["open_samples"] == []
    assert f"{SITE}/{in_flight}" in assessed["open_samples"]
    assert assessed["planned_changes"] == []

    own = plant.call("admin", "POST", f"{CR}/{code}/approval",
                     json={"signature": plant.signature("admin")})  # fmt: skip
    assert own.status_code == 403, own.text
    approved = plant.call("qa", "POST", f"{CR}/{code}/approval",
                          json={"signature": plant.signature("qa")})  # fmt: skip
    assert approved.json()["state"] == "approved", approved.text
    icd_before = _latest_icd(plant)

    clock.advance(hours=2)
    assert _apply_due(plant) == [code]
    assert plant.call("auditor", "GET", f"{CR}/{code}").json()["state"] == "effective"
    refused = _request(plant, "RT-2", "C-ASSAY")
    assert refused.status_code == 409, refused.text
    assert (refused.json()["reason"], refused.json()["field"]) == (
        "mapping.retired", "characteristics",
    )  # fmt: skip
    assert f"{SITE}/{code}" in refused.json()["detail"]
    assert when.isoformat() in refused.json()["detail"]
    assert "mapping.retired" in str(_refusals(hub))  # audited as every refusal is
    # The alias no longer resolves (the cached aliases moved with it): QC-ASSAY is unknown.
    unknown = _request(plant, "RT-3", "QC-ASSAY")
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["reason"] == "mapping.unknown"
    # A characteristic still mapped is requested as before.
    assert _sample(plant, "RT-4", "C-WATER")

    # The sample requested before keeps its mapping: its result still posts to C-ASSAY.
    result = approved_result(plant, in_flight, "ASSAY", "99.5", "%")
    o = t.outbox.c
    with hub.sessions() as session:
        told = session.scalars(select(o.payload).where(
            o.schema == "labgate.mes_result.v1", o.record_id == result)).all()  # fmt: skip
    assert told and all("C-ASSAY" in str(payload) for payload in told)
    shown = plant.call("auditor", "GET", f"/samples/{in_flight}").json()["tests"]
    assert [(p["test_code"], p["characteristic"]) for p in shown] == [("ASSAY", "C-ASSAY")]
    why = f"change request {code}: Assay no longer reported to the MES"
    assert ("masterdata.retired", why) in _trail(hub, "C-ASSAY/ASSAY/*")
    assert ("masterdata.retired", why) in _trail(hub, "MES/characteristic/QC-ASSAY")

    # The ICD regenerated: neither in force any more, both listed as retired with date and CR.
    icd = _latest_icd(plant)
    assert icd != icd_before
    assert "C-ASSAY" not in {m["characteristic"] for m in icd["mappings"]}
    assert "QC-ASSAY" not in {a["external_code"] for a in icd["aliases"]}
    assert {(r["record"], r["retired_by"]) for r in icd["retired"]} == {
        ("mapping", f"{SITE}/{code}"), ("alias", f"{SITE}/{code}"),
    }  # fmt: skip
    assert all(
        r["retired_from"].startswith(when.strftime("%Y-%m-%dT%H:%M")) for r in icd["retired"]
    )
    newest = max(v["version"] for v in plant.call("auditor", "GET", "/icd").json()["versions"])
    page = plant.call("auditor", "GET", f"/icd/{newest}", params={"format": "html"}).text
    assert "Retired mappings and aliases" in page and f"{SITE}/{code}" in page
    said = plant.call("auditor", "GET", "/icd/changes").json()["changes"]
    assert any(line.startswith("retired: mapping") for line in said), said


@pytest.mark.requirement("URS-A11-10", category="boundary")
def test_a_retired_mapping_is_in_force_until_the_instant_of_its_date(
    plant: Plant, clock: ManualClock
) -> None:
    when = clock.now() + timedelta(days=1)
    code = _approved(plant, {"retire": {"mappings": [ASSAY_MAPPING]}}, when)
    clock.advance(days=1, seconds=-1)  # the day before, to the second
    assert _apply_due(plant) == []
    assert _sample(plant, "RB-1", "C-ASSAY")
    clock.advance(seconds=1)  # its date, exactly
    assert _apply_due(plant) == [code]
    refused = _request(plant, "RB-2", "C-ASSAY")
    assert refused.status_code == 409 and refused.json()["reason"] == "mapping.retired"


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_a_bad_retire_part_is_refused_naming_its_field(plant: Plant) -> None:
    cases = [
        ({"retire": []}, "change.invalid_proposal", "proposal.retire"),
        ({"retire": {"mappings": []}}, "change.invalid_proposal", "proposal"),
        ({"retire": {"units": [{"code": "%"}]}}, "change.invalid_proposal",
         "proposal.retire.units"),
        ({"retire": {"mappings": [{"characteristic": "C-ASSAY"}]}}, "change.invalid_proposal",
         "proposal.retire.mappings[0].test_code"),
        ({"retire": {"aliases": [{**MES_ALIAS, "canonical": "C-ASSAY"}]}},
         "change.invalid_proposal", "proposal.retire.aliases[0].canonical"),
        ({"retire": {"mappings": [ASSAY_MAPPING, ASSAY_MAPPING]}}, "change.invalid_proposal",
         "proposal.retire.mappings[1]"),
        ({"retire": {"mappings": [{"characteristic": "C-ASSAY", "test_code": "WATER"}]}},
         "masterdata.not_found", "proposal.retire.mappings[0]"),
        ({"retire": {"aliases": [{**MES_ALIAS, "system": "SAP"}]}},
         "masterdata.not_found", "proposal.retire.aliases[0]"),
    ]  # fmt: skip
    refused_naming(lambda given: _raise(plant, given), cases)
    assert plant.call("auditor", "GET", CR).json()["items"] == []


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_a_retired_record_is_never_retired_again_nor_brought_back(plant: Plant) -> None:
    code = _approved(plant, {"retire": {"mappings": [ASSAY_MAPPING], "aliases": [MES_ALIAS]}})
    again = _raise(plant, {"retire": {"aliases": [MES_ALIAS]}})
    assert again.status_code == 409, again.text
    assert (again.json()["reason"], again.json()["field"]) == (
        "masterdata.already_retired", "proposal.retire.aliases[0]",
    )  # fmt: skip
    assert f"{SITE}/{code}" in again.json()["detail"]
    # No direct import names a retired record: it would come back silently.
    mapping = {"characteristic": "C-ASSAY", "test": "ASSAY", "sampling_point": None}
    for section, record in (("mappings", mapping), ("aliases", {
            "system": "MES", "kind": "characteristic", "external": "QC-ASSAY",
            "canonical": "C-ASSAY"})):  # fmt: skip
        document = {"site": PLANT["site"], section: [record]}
        imported = plant.call("admin", "POST", IMPORT,
                              json={"document": document, "reason": "CR-8: restore"})  # fmt: skip
        assert imported.status_code == 409, imported.text
        assert (imported.json()["reason"], imported.json()["field"]) == (
            "masterdata.change_request_required", f"{section}[0]",
        )  # fmt: skip
    # Nor does a change request's document.
    back = _raise(plant, {"document": {"mappings": [mapping]}})
    assert back.status_code == 409, back.text
    assert (back.json()["reason"], back.json()["field"]) == (
        "masterdata.already_retired", "proposal.document.mappings[0]",
    )  # fmt: skip
    # An export leaves retired records out, so it re-imports unchanged.
    exported = plant.call("auditor", "GET", "/masterdata").json()
    assert "QC-ASSAY" not in {a["external"] for a in exported["aliases"]}
    reloaded = plant.call("admin", "POST", IMPORT,
                          json={"document": exported, "reason": "CR-9: reload"})  # fmt: skip
    assert reloaded.status_code == 200, reloaded.text


@pytest.mark.requirement("URS-A11-10", "URS-TX-004")
def test_a_request_whose_every_mapping_and_alias_is_retired_closes_as_retired(
    plant: Plant, hub: Hub
) -> None:
    def alias(code: str) -> dict[str, str]:
        return {"system": "MES", "kind": "characteristic", "external": code,
                "canonical": "C-WATER"}  # fmt: skip

    def named(code: str) -> dict[str, str]:
        return {"system": "MES", "kind": "characteristic", "external_code": code}

    only = _approved(plant, {"document": {"aliases": [alias("QC-W1")]}})
    partly = _approved(plant, {"document": {"aliases": [alias("QC-W2"), alias("QC-W3")]}})
    retiring = _approved(plant, {"retire": {"aliases": [named("QC-W1"), named("QC-W2")]}})
    first = plant.call("auditor", "GET", f"{CR}/{only}").json()
    assert (first["state"], first["close_reason"]) == ("retired", f"retired by {SITE}/{retiring}")
    # One of its aliases is still in force: it stays effective.
    assert plant.call("auditor", "GET", f"{CR}/{partly}").json()["state"] == "effective"
    assert plant.call("auditor", "GET", f"{CR}/{retiring}").json()["state"] == "effective"
    assert ("change_request.retired", f"retired by {SITE}/{retiring}") in _trail(hub, only)


@pytest.mark.requirement("URS-A11-10", "URS-TX-001")
def test_one_request_remaps_a_test_retiring_the_old_mapping_as_it_writes_the_new(
    plant: Plant,
) -> None:
    # The MES reports the assay under a new characteristic from recipe R-13 on.
    document = {"site": PLANT["site"],
                "characteristics": [{"code": "C-ASSAY-13", "name": "Assay (R-13)"}]}  # fmt: skip
    body = {"document": document, "reason": "CR-10: R-13's characteristic"}
    assert plant.call("admin", "POST", IMPORT, json=body).status_code == 200
    successor = {"characteristic": "C-ASSAY-13", "test": "ASSAY", "sampling_point": None}
    # Alone, the new mapping would post one ASSAY result to two characteristics: refused by
    # a change request as by a direct import, naming where.
    alone = _raise(plant, {"document": {"mappings": [successor]}})
    assert alone.status_code == 409, alone.text
    assert alone.json()["reason"] == "mapping.cross_posting"
    direct = {"document": {"site": PLANT["site"], "mappings": [successor]}, "reason": "CR-11: R-13"}
    imported = plant.call("admin", "POST", IMPORT, json=direct)
    assert imported.status_code == 409, imported.text
    assert (imported.json()["reason"], imported.json()["field"]) == (
        "mapping.cross_posting", "mappings[0].sampling_point",
    )  # fmt: skip
    # With the old one retired by the same request, it is the remap it means.
    remap = {"document": {"mappings": [successor]}, "retire": {"mappings": [ASSAY_MAPPING]}}
    _approved(plant, remap)
    planned = plant.call("auditor", "GET", f"/samples/{_sample(plant, 'RM-1', 'C-ASSAY-13')}")
    assert [(p["test_code"], p["characteristic"]) for p in planned.json()["tests"]] == [
        ("ASSAY", "C-ASSAY-13")
    ]
    refused = _request(plant, "RM-2", "C-ASSAY")
    assert refused.status_code == 409 and refused.json()["reason"] == "mapping.retired"


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_a_request_may_not_write_and_retire_the_same_record(plant: Plant) -> None:
    same = {"characteristic": "C-ASSAY", "test": "ASSAY", "sampling_point": None}
    both = _raise(
        plant, {"document": {"mappings": [same]}, "retire": {"mappings": [ASSAY_MAPPING]}}
    )
    assert both.status_code == 422, both.text
    assert (both.json()["reason"], both.json()["field"]) == (
        "change.invalid_proposal", "proposal.document.mappings[0]",
    )  # fmt: skip
    alias = {"system": "MES", "kind": "characteristic", "external": "QC-ASSAY",
             "canonical": "C-WATER"}  # fmt: skip
    moved = _raise(plant, {"document": {"aliases": [alias]}, "retire": {"aliases": [MES_ALIAS]}})
    assert moved.status_code == 422, moved.text
    assert moved.json()["field"] == "proposal.document.aliases[0]"
    assert plant.call("auditor", "GET", CR).json()["items"] == []
