"""One sample the whole way through the REST API, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from labgate.bootstrap import Hub
from labgate.entrypoints.cli.main import app as cli
from plant import Plant, SeededPlant, request_sample

MINIMUM_DATA_SET = {
    "sample_id",
    "test_code",
    "method",
    "method_version",
    "analyst",
    "reviewer",
    "approved_at",
    "unit",
    "rounding",
    "raw_value",
    "calculated_value",
    "reported_value",
    "limit_set",
    "result_status",
}


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def enter(plant: Plant, sample: str, test: str, value: str, unit: str | None, **extra: Any) -> str:
    body = {
        "sample": sample,
        "test_code": test,
        "value": value,
        "unit": unit,
        "method_version": "1",
        "analyst": "analyst",
        **extra,
    }
    answer = plant.call("analyst", "POST", "/results", json=body)
    assert answer.status_code == 201, answer.text
    results = answer.json()["results"]
    return str(results[-1]["code"])


def approve(plant: Plant, result: str) -> dict[str, Any]:
    body = {"signature": plant.signature("reviewer")}
    answer = plant.call("reviewer", "POST", f"/results/{result}/approval", json=body)
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


def outbox(plant: Plant, kind: str) -> list[dict[str, Any]]:
    answer = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000})
    return [m for m in answer.json()["items"] if m["message_type"] == kind]


@pytest.mark.requirement("URS-TX-005", "URS-TX-006")
def test_accepted_rejected_and_retest_end_to_end(plant: Plant, hub: Hub) -> None:
    sample = request_sample(plant, "REQ-1")
    shown = plant.call("production", "GET", f"/samples/{sample}").json()
    assert (shown["specification"], shown["spec_version"]) == ("SPEC-A", 2)
    assert [t["test_code"] for t in shown["tests"]] == ["ASSAY", "WATER", "APPEAR"]
    assert outbox(plant, "sample_registration")[0]["payload"]["lims_sample_id"] == "L-REQ-1"

    assay = enter(plant, sample, "ASSAY", "99.62", "%")
    view = plant.call("production", "GET", f"/samples/{sample}").json()
    assert view["results"][0]["status"] == "preliminary"
    assert view["mes_status"] == "Pending"
    assert outbox(plant, "result_status")[-1]["payload"]["result_status"] == "Pending"
    assert plant.call("production", "GET", "/batches/B1").json()["mes_status"] == "Pending"

    view = approve(plant, assay)
    result = view["results"][0]
    assert (result["status"], result["mes_status"], result["reported_value"]) == (
        "approved",
        "Accepted",
        "99.6",
    )
    [signature] = result["signatures"]
    assert signature["printed_name"] == "Reviewer Person"
    assert (signature["meaning"], signature["status"]) == ("approved", "valid")
    assert signature["signed_at"].endswith("Z")

    approve(plant, enter(plant, sample, "WATER", "3.1", "mg/g"))  # 0.31 % after conversion
    view = approve(plant, enter(plant, sample, "APPEAR", "White  tablet", None))
    assert view["mes_status"] == "Accepted"
    water = view["results"][1]
    assert (water["canonical_value"], water["conversion_factor"], water["band"]) == (
        "0.31",
        "0.1",
        "none",
    )
    message = outbox(plant, "result")[0]["payload"]
    assert message.keys() >= MINIMUM_DATA_SET
    assert all(message[k] is not None for k in MINIMUM_DATA_SET)
    assert message["limit_set"] == "SPEC-A v2: NLT 99.0"
    assert message["rounding"].startswith("USP")

    failing = request_sample(plant, "REQ-2")
    rejected = approve(plant, enter(plant, failing, "ASSAY", "98.94", "%"))  # 98.9 < 99.0
    assert rejected["results"][0]["mes_status"] == "Rejected"
    assert rejected["mes_status"] == "Rejected"
    assert plant.call("production", "GET", "/batches/B1").json()["mes_status"] == "Rejected"

    first = rejected["results"][0]["code"]
    body = {
        "reason": "Lab error: wrong dilution",
        "signature": plant.signature("reviewer", "invalidated"),
    }
    answer = plant.call("reviewer", "POST", f"/results/{first}/invalidation", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["status"] == "invalidated"
    assert outbox(plant, "result_invalidated")[0]["payload"]["superseded"] is True
    retest = enter(plant, failing, "ASSAY", "99.4", "%", retest_of=first)
    view = approve(plant, retest)
    old, new = view["results"]
    assert (old["superseded_by"], new["supersedes"]) == (retest, first)
    assert new["mes_status"] == "Accepted"

    timeline = plant.call("auditor", "GET", f"/samples/{failing}/timeline").json()["items"]
    actions = [entry["action"] for entry in timeline]
    assert actions[:2] == ["sample.requested", "sample.registered"]
    assert "result.invalidated" in actions
    assert actions.count("result.approved") == 2

    audit_is_verified_then_tampering_is_caught(hub)


def audit_is_verified_then_tampering_is_caught(hub: Hub) -> None:
    runner, env = CliRunner(), {"LABGATE_DATABASE_URL": hub.settings.database_url}
    verified = runner.invoke(cli, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output
    with hub.engine.begin() as connection:  # someone with database rights, behind labgate's back
        if connection.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER audit_entries_no_update"))
        else:
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        connection.execute(text("UPDATE audit_entries SET reason = 'nothing to see' WHERE seq = 7"))
    broken = runner.invoke(cli, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert "BROKEN at entry 7" in broken.output


def test_sample_taken_before_a_spec_change_keeps_the_old_version(plant: Plant) -> None:
    before_change = request_sample(plant, "REQ-OLD", sampled_at="2026-11-10T10:00:00Z")
    after_change = request_sample(plant, "REQ-NEW", sampled_at="2026-11-21T10:00:00Z")
    old = approve(plant, enter(plant, before_change, "ASSAY", "98.6", "%"))
    new = approve(plant, enter(plant, after_change, "ASSAY", "98.6", "%"))
    assert (old["spec_version"], old["results"][0]["mes_status"]) == (1, "Accepted")
    assert (new["spec_version"], new["results"][0]["mes_status"]) == (2, "Rejected")
    assert old["results"][0]["limit_set"] == "SPEC-A v1: NLT 98.0"


@pytest.mark.requirement("URS-P11-11.10c", "URS-P11-11.10e", category="negative")
def test_database_refuses_to_change_the_trail(hub: Hub, plant: Plant) -> None:
    for statement in (
        "UPDATE audit_entries SET actor = 'x'",
        "DELETE FROM audit_entries",
        "DELETE FROM accounts",
    ):
        with pytest.raises(Exception, match="append-only"), hub.engine.begin() as connection:
            connection.execute(text(statement))


@pytest.mark.requirement("URS-P11-11.50", "URS-P11-11.70", category="negative")
def test_spec_and_batch_signatures_are_shown_and_break_when_the_record_changes(
    plant: Plant, hub: Hub
) -> None:
    spec = plant.call("production", "GET", "/specifications/SPEC-A/versions/2").json()
    [approval] = spec["signatures"]
    assert (approval["printed_name"], approval["meaning"], approval["status"]) == (
        "Qa Person",
        "approved",
        "valid",
    )
    sample = request_sample(plant, "REQ-REL")
    for test, value, unit in (
        ("ASSAY", "99.5", "%"),
        ("WATER", "0.2", "%"),
        ("APPEAR", "White tablet", None),
    ):
        approve(plant, enter(plant, sample, test, value, unit))
    body = {"signature": plant.signature("qa", "released")}
    released = plant.call("qa", "POST", "/batches/B1/release", json=body)
    assert released.status_code == 200, released.text
    [signature] = released.json()["signatures"]
    assert (signature["meaning"], signature["status"]) == ("released", "valid")
    with hub.engine.begin() as connection:  # a limit edited behind labgate's back
        connection.execute(
            text("UPDATE limit_lines SET \"limit\" = 'NLT 90.0' WHERE test_code = 'ASSAY'")
        )
    spec = plant.call("production", "GET", "/specifications/SPEC-A/versions/2").json()
    assert spec["signatures"][0]["status"] == "broken"


def test_timelines_hold_the_results_and_refusals_naming_a_result_never_stored(
    plant: Plant,
) -> None:
    sample = request_sample(plant, "REQ-T")
    other = request_sample(plant, "REQ-U")  # its own story stays out of this sample's
    assay = enter(plant, sample, "ASSAY", "99.62", "%")
    approve(plant, assay)
    enter(plant, other, "ASSAY", "99.70", "%")
    mistyped = f"{sample}-R9"  # no such result: the refusal still belongs to the sample's story
    body = {"signature": plant.signature("reviewer")}
    refused = plant.call("reviewer", "POST", f"/results/{mistyped}/approval", json=body)
    assert refused.status_code == 404, refused.text

    timeline = plant.call("auditor", "GET", f"/samples/{sample}/timeline").json()["items"]
    about = [(entry["action"], entry["record_id"]) for entry in timeline]
    assert ("result.recorded", assay) in about and ("result.approved", assay) in about
    assert about[-1] == ("refused.approve_result", mistyped)
    assert {record for _, record in about} == {sample, assay, mistyped}
    whole = plant.call("auditor", "GET", "/batches/B1/timeline", params={"limit": 500})
    records = {entry["record_id"] for entry in whole.json()["items"]}
    assert {sample, assay, mistyped, other, f"{other}-R1"} <= records
