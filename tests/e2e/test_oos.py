"""OOS through the REST API, on SQLite and PostgreSQL: a rejected result opens a deviation and
holds the batch; phase I finds a laboratory error (invalidate, retest) or not (phase II, CAPA,
QA's closure); every step signed, audited, and refused when out of turn or by the wrong person."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from labgate.bootstrap import Hub
from plant import Plant, SeededPlant

DEV = "/deviations/DEV-000001"


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def oos_sample(plant: Plant, request_id: str) -> tuple[str, str]:
    """A sample of batch B1 whose assay result (98.94 %, NLT 99.0) is approved: Rejected."""
    body = {"mes_request_id": request_id, "product": "P1", "sampled_at": "2026-11-24T10:00:00Z",
            "batch": "B1", "sampling_point": "SP-REL"}  # fmt: skip
    sample = plant.call("mes", "POST", "/sample-requests", json=body).json()["code"]
    plant.call("lims", "POST", f"/samples/{sample}/registration", json={"lims_sample_id": "L1"})
    result = enter(plant, sample, "98.94")
    answer = plant.call("reviewer", "POST", f"/results/{result}/approval",
                        json={"signature": plant.signature("reviewer")})  # fmt: skip
    assert answer.json()["mes_status"] == "Rejected", answer.text
    return sample, result


def enter(plant: Plant, sample: str, value: str, **extra: Any) -> str:
    body = {"sample": sample, "test_code": "ASSAY", "value": value, "unit": "%",
            "method_version": "1", "analyst": "analyst", **extra}  # fmt: skip
    answer = plant.call("analyst", "POST", "/results", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["results"][-1]["code"])


def step(plant: Plant, who: str, name: str, meaning: str = "reviewed", **body: Any) -> Response:
    body["signature"] = plant.signature(who, meaning)
    return plant.call(who, "POST", f"{DEV}/{name}", json=body)


def refused(answer: Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["reason"]


def outbox(plant: Plant, kind: str) -> list[dict[str, Any]]:
    answer = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000})
    return [m["payload"] for m in answer.json()["items"] if m["message_type"] == kind]


def audit(plant: Plant, record_type: str, record_id: str) -> list[str]:
    params = {"record_type": record_type, "record_id": record_id}
    return [e["action"] for e in plant.call("auditor", "GET", "/api/v1/audit",
                                            params=params).json()["items"]]  # fmt: skip


def test_an_oos_opens_a_deviation_holds_the_batch_and_a_lab_error_leads_to_a_retest(
    plant: Plant,
) -> None:
    sample, result = oos_sample(plant, "REQ-1")
    listed = plant.call("production", "GET", "/deviations", params={"state": "open"}).json()
    assert [(d["code"], d["state"], d["result"]) for d in listed["items"]] == [
        ("DEV-000001", "open_phase1", result)
    ]
    batch = plant.call("production", "GET", "/batches/B1").json()
    assert (batch["on_hold"], batch["deviations"][0]["deviation"]) == (True, "DEV-000001")
    [hold] = outbox(plant, "batch_hold")
    assert (hold["hold"], hold["batch"], hold["deviation"], hold["result_id"]) == (
        "on", "B1", "DEV-000001", result
    )  # fmt: skip
    assert hold["reason"].startswith(f"OOS: ASSAY result {result} is 98.9")
    assert audit(plant, "batch", "B1")[-1] == "batch.held"

    answer = step(plant, "reviewer", "phase1", conclusion="assignable_cause",
                  reason="Wrong dilution: 10 mL flask used for 25 mL")  # fmt: skip
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert (shown["state"], shown["open"], shown["result_status"]) == (
        "invalidated", False, "invalidated"
    )  # fmt: skip
    assert (shown["phase1_by"], shown["signatures"][0]["status"]) == ("reviewer", "valid")
    assert outbox(plant, "result_invalidated")[0]["result_id"] == result
    assert [h["hold"] for h in outbox(plant, "batch_hold")] == ["on", "off"]

    retest = enter(plant, sample, "99.4", retest_of=result)
    approved = plant.call("reviewer", "POST", f"/results/{retest}/approval",
                          json={"signature": plant.signature("reviewer")})  # fmt: skip
    assert approved.json()["results"][-1]["mes_status"] == "Accepted"
    assert plant.call("qa", "GET", DEV).json()["retest"] == retest
    [brief] = plant.call("qa", "GET", f"/samples/{sample}").json()["deviations"]
    assert brief == {"deviation": "DEV-000001", "result": result, "state": "invalidated",
                     "open": False}  # fmt: skip
    assert plant.call("qa", "GET", "/batches/B1").json()["on_hold"] is False
    assert audit(plant, "deviation", "DEV-000001") == [
        "deviation.opened", "deviation.phase1_concluded", "signature.applied"
    ]  # fmt: skip
    timeline = plant.call("auditor", "GET", "/batches/B1/timeline").json()["items"]
    actions = [e["action"] for e in timeline]
    assert actions.index("deviation.opened") < actions.index("batch.hold_lifted")
    timeline = plant.call("auditor", "GET", f"/samples/{sample}/timeline").json()["items"]
    assert "deviation.phase1_concluded" in [e["action"] for e in timeline]


def test_a_result_invalidated_directly_is_linked_when_phase_one_finds_the_cause(
    plant: Plant,
) -> None:
    _, result = oos_sample(plant, "REQ-1")
    body = {
        "reason": "Lab error: wrong dilution",
        "signature": plant.signature("reviewer", "invalidated"),
    }
    plant.call("reviewer", "POST", f"/results/{result}/invalidation", json=body)
    answer = step(plant, "qa", "phase1", conclusion="assignable_cause", reason="Wrong dilution")
    assert answer.json()["state"] == "invalidated", answer.text
    assert len(outbox(plant, "result_invalidated")) == 1


def test_no_assignable_cause_goes_to_phase_two_and_qa_closes_with_a_capa(plant: Plant) -> None:
    oos_sample(plant, "REQ-1")
    answer = step(plant, "reviewer", "phase1", conclusion="no_assignable_cause",
                  reason="Method, analyst, equipment and standards checked")  # fmt: skip
    assert answer.json()["state"] == "open_phase2", answer.text
    answer = step(plant, "reviewer", "phase2", conclusion="confirmed",
                  rationale="Manufacturing investigation: blend uniformity failure")  # fmt: skip
    assert answer.json()["state"] == "concluded", answer.text
    release = plant.call("qa", "POST", "/batches/B1/release",
                         json={"signature": plant.signature("qa", "released")})  # fmt: skip
    assert refused(release)[0] == 409

    no_capa = step(plant, "qa", "closure", "approved", reason="OOS confirmed")
    assert refused(no_capa) == (422, "deviation.capa_required")
    answer = step(plant, "qa", "closure", "approved", reason="OOS confirmed", capa="CAPA-0042")
    shown = answer.json()
    assert (shown["state"], shown["capa"], shown["closed_by"]) == ("closed", "CAPA-0042", "qa")
    assert [s["meaning"] for s in shown["signatures"]] == ["reviewed", "reviewed", "approved"]
    assert {s["status"] for s in shown["signatures"]} == {"valid"}
    assert [h["hold"] for h in outbox(plant, "batch_hold")] == ["on", "off"]
    closed = plant.call("auditor", "GET", "/deviations", params={"state": "closed"}).json()
    assert [d["code"] for d in closed["items"]] == ["DEV-000001"]
    assert (
        plant.call("auditor", "GET", "/deviations", params={"state": "open"}).json()["items"] == []
    )
    # The OOS stands: the sample stays Rejected and the batch cannot be released on it.
    assert plant.call("qa", "GET", "/batches/B1").json()["mes_status"] == "Rejected"


def test_the_hold_stays_while_another_deviation_on_the_batch_is_open(plant: Plant) -> None:
    oos_sample(plant, "REQ-1")
    oos_sample(plant, "REQ-2")
    step(plant, "reviewer", "phase1", conclusion="assignable_cause", reason="Bad vial")
    assert [h["hold"] for h in outbox(plant, "batch_hold")] == ["on", "on"]
    assert plant.call("qa", "GET", "/batches/B1").json()["on_hold"] is True


def test_segregation_of_duties_is_enforced_by_the_server(plant: Plant) -> None:
    body = {"mes_request_id": "REQ-1", "product": "P1", "sampled_at": "2026-11-24T10:00:00Z",
            "batch": "B1"}  # fmt: skip
    sample = plant.call("mes", "POST", "/sample-requests", json=body).json()["code"]
    plant.call("lims", "POST", f"/samples/{sample}/registration", json={})
    # The LIMS reports a result its user "reviewer" measured and "rev2" approved there.
    second = {"username": "reviewer2", "printed_name": "Second Reviewer",
              "roles": ["qc_reviewer"], "password": "a long enough password"}  # fmt: skip
    assert plant.call("admin", "POST", "/api/v1/accounts", json=second).status_code == 201
    mapping = {"account": "reviewer2", "reason": "CR-9: second reviewer's LIMS id"}
    answer = plant.call("admin", "PUT", "/api/v1/sources/lims/identities/rev2", json=mapping)
    assert answer.status_code == 200, answer.text
    reviewed = {"sample": sample, "test_code": "ASSAY", "value": "97.0", "unit": "%",
                "method_version": "1", "analyst": "reviewer", "reviewer": "rev2",
                "approved_at": "2026-11-24T12:00:00Z"}  # fmt: skip
    assert plant.call("lims", "POST", "/results/reviewed", json=reviewed).status_code == 201

    own = step(plant, "reviewer", "phase1", conclusion="assignable_cause", reason="My mistake")
    assert refused(own) == (403, "deviation.investigator_is_analyst")
    not_theirs = plant.call("analyst", "POST", f"{DEV}/phase1", json={})
    assert refused(not_theirs) == (403, "access.missing_permission")
    step(plant, "qa", "phase1", conclusion="no_assignable_cause", reason="Nothing found")
    step(plant, "qa", "phase2", conclusion="not_confirmed", rationale="Sampling error shown")
    own_closure = step(plant, "qa", "closure", "approved", reason="Approve my own conclusion")
    assert refused(own_closure) == (403, "deviation.approver_is_investigator")
    not_qa = step(plant, "reviewer", "closure", "approved", reason="Not QA")
    assert refused(not_qa) == (403, "access.missing_permission")
    assert plant.call("qa", "GET", DEV).json()["state"] == "concluded"
    refusals = audit(plant, "deviation", "DEV-000001")
    assert refusals.count("refused.close_deviation") == 1


def test_steps_out_of_turn_or_malformed_are_refused_with_reason_codes(plant: Plant) -> None:
    oos_sample(plant, "REQ-1")
    early = step(plant, "reviewer", "phase2", conclusion="confirmed", rationale="Far too early")
    assert refused(early) == (409, "deviation.invalid_transition")
    assert "from open_phase1 to concluded" in early.json()["detail"]
    assert refused(step(plant, "qa", "closure", "approved", reason="Far too soon", capa="C-1")) == (
        409, "deviation.invalid_transition"
    )  # fmt: skip
    bad = step(plant, "reviewer", "phase1", conclusion="maybe", reason="Unsure of it")
    assert refused(bad) == (422, "deviation.bad_phase1_conclusion")
    wrong_meaning = step(plant, "reviewer", "phase1", "approved",
                         conclusion="assignable_cause", reason="Bad vial seal")  # fmt: skip
    assert refused(wrong_meaning) == (422, "signature.wrong_meaning")
    step(plant, "reviewer", "phase1", conclusion="assignable_cause", reason="Bad vial seal")
    again = step(plant, "reviewer", "phase1", conclusion="assignable_cause", reason="Again, again")
    assert refused(again) == (409, "deviation.invalid_transition")
    unknown = plant.call("qa", "GET", "/deviations/DEV-999999")
    assert refused(unknown) == (404, "deviation.unknown")
    assert refused(plant.call("qa", "GET", "/deviations", params={"state": "lost"}))[0] == 422
