"""QA disposition through the API, on SQLite and PostgreSQL: release only on Accepted samples
or closed deviations (refusals name each sample and why), signed rejection told to the MES,
once per batch, QA only; review by exception lists exactly what needs a look, and why."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from labgate.bootstrap import Hub
from labgate.service.messages import OUTBOUND
from plant import Plant, SeededPlant, approved_result, request_sample

CLEAN = (("ASSAY", "99.62", "%"), ("WATER", "0.2", "%"), ("APPEAR", "White tablet", None))


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def release(plant: Plant, who: str = "qa", batch: str = "B1") -> Response:
    body = {"signature": plant.signature(who, "released")}
    return plant.call(who, "POST", f"/batches/{batch}/release", json=body)


def reject(plant: Plant, who: str = "qa", meaning: str = "rejected") -> Response:
    body = {"reason": "Blend uniformity failure", "signature": plant.signature(who, meaning)}
    return plant.call(who, "POST", "/batches/B1/rejection", json=body)


def step(plant: Plant, who: str, deviation: str, name: str, meaning: str, **body: Any) -> None:
    body["signature"] = plant.signature(who, meaning)
    answer = plant.call(who, "POST", f"/deviations/{deviation}/{name}", json=body)
    assert answer.status_code == 200, answer.text


def enter(plant: Plant, sample: str, test: str, value: str, **extra: Any) -> str:
    body = {"sample": sample, "test_code": test, "value": value, "unit": "%",
            "method_version": "1", "analyst": "analyst", **extra}  # fmt: skip
    answer = plant.call("analyst", "POST", "/results", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["results"][-1]["code"])


def approve(plant: Plant, result: str) -> None:
    answer = plant.call("reviewer", "POST", f"/results/{result}/approval",
                        json={"signature": plant.signature("reviewer")})  # fmt: skip
    assert answer.status_code == 200, answer.text


def outbox(plant: Plant, kind: str) -> list[dict[str, Any]]:
    answer = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000})
    return [m["payload"] for m in answer.json()["items"] if m["message_type"] == kind]


def actions(plant: Plant) -> list[str]:
    params = {"record_type": "batch", "record_id": "B1"}
    items = plant.call("auditor", "GET", "/api/v1/audit", params=params).json()["items"]
    return [e["action"] for e in items]


def review(plant: Plant) -> dict[str, Any]:
    answer = plant.call("production", "GET", "/batches/B1/review")
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def clean_sample(plant: Plant, request_id: str) -> str:
    sample = request_sample(plant, request_id)
    for test, value, unit in CLEAN:
        approved_result(plant, sample, test, value, unit)
    return sample


@pytest.mark.requirement("URS-A11-15", "URS-TX-007", category="negative")
def test_release_is_refused_naming_the_rejected_sample_until_its_deviation_is_closed(
    plant: Plant,
) -> None:
    good = clean_sample(plant, "REQ-GOOD")
    bad = request_sample(plant, "REQ-OOS")
    approve(plant, enter(plant, bad, "ASSAY", "98.94"))  # NLT 99.0: OOS, DEV-000001 opens
    approved_result(plant, bad, "WATER", "0.2", "%")
    approved_result(plant, bad, "APPEAR", "White tablet", None)
    refused = release(plant)
    assert (refused.status_code, refused.json()["reason"]) == (409, "release.on_hold")
    detail = refused.json()["detail"]
    assert "DEV-000001" in detail and f"Sample {bad} is Rejected" in detail
    assert "(release.sample_rejected)" in detail and good not in detail

    step(plant, "reviewer", "DEV-000001", "phase1", "reviewed", conclusion="no_assignable_cause",
         reason="Method, analyst and equipment checked")  # fmt: skip
    step(plant, "reviewer", "DEV-000001", "phase2", "reviewed", conclusion="confirmed",
         rationale="Blend uniformity")  # fmt: skip
    still = release(plant)
    assert (still.status_code, still.json()["reason"]) == (409, "release.on_hold")
    step(plant, "qa", "DEV-000001", "closure", "approved", reason="Cause confirmed", capa="CAPA-1")

    released = release(plant)
    assert released.status_code == 200, released.text
    shown = released.json()
    assert (shown["disposition"], shown["released_by"]) == ("released", "qa")
    [signature] = shown["signatures"]
    assert (signature["meaning"], signature["status"]) == ("released", "valid")
    [told] = outbox(plant, "batch_disposition")
    assert (told["batch"], told["disposition"], told["signed_by"]) == ("B1", "released", "qa")
    assert told["samples"] == sorted([good, bad])
    OUTBOUND["labgate.batch_disposition.v1"].model_validate(told)
    again = release(plant)
    assert (again.status_code, again.json()["reason"]) == (409, "release.already_released")
    late = reject(plant)
    assert (late.status_code, late.json()["reason"]) == (409, "release.already_released")


def test_qa_rejects_a_batch_once_signed_audited_and_the_mes_is_told(plant: Plant) -> None:
    sample = clean_sample(plant, "REQ-REJ")
    wrong = reject(plant, meaning="released")
    assert (wrong.status_code, wrong.json()["reason"]) == (422, "signature.wrong_meaning")
    answer = reject(plant)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["disposition"] == "rejected" and shown["released_at"] is None
    [signature] = shown["signatures"]
    assert (signature["printed_name"], signature["meaning"], signature["status"]) == (
        "Qa Person", "rejected", "valid",
    )  # fmt: skip
    assert "batch.rejected" in actions(plant)
    [told] = outbox(plant, "batch_disposition")
    assert (told["disposition"], told["reason"], told["samples"]) == (
        "rejected", "Blend uniformity failure", [sample],
    )  # fmt: skip
    for again in (reject(plant), release(plant)):
        assert (again.status_code, again.json()["reason"]) == (409, "release.already_rejected")
    OUTBOUND["labgate.batch_disposition.v1"].model_validate(told)
    assert len(outbox(plant, "batch_disposition")) == 1


@pytest.mark.requirement("URS-A11-15", category="negative")
@pytest.mark.parametrize("who", ["production", "reviewer", "analyst"])
def test_only_qa_releases_or_rejects(plant: Plant, who: str) -> None:
    clean_sample(plant, "REQ-SOD")
    assert release(plant, who).status_code == 403
    assert reject(plant, who).status_code == 403
    assert plant.call("qa", "GET", "/batches/B1").json()["disposition"] == "pending"
    assert outbox(plant, "batch_disposition") == []


def test_a_clean_batch_is_ready_by_exception(plant: Plant) -> None:
    clean_sample(plant, "REQ-CLEAN")
    assert review(plant) == {"batch": "B1", "ready_by_exception": True, "items": []}


def test_review_lists_the_oos_the_retest_and_the_preliminary_result_each_with_why(
    plant: Plant,
) -> None:
    retested = request_sample(plant, "REQ-LAB-ERROR")
    first = enter(plant, retested, "ASSAY", "98.94")
    approve(plant, first)  # OOS: DEV-000001
    step(plant, "reviewer", "DEV-000001", "phase1", "reviewed", conclusion="assignable_cause",
         reason="Wrong dilution")  # fmt: skip
    retest = enter(plant, retested, "ASSAY", "99.4", retest_of=first)
    approve(plant, retest)
    oos = request_sample(plant, "REQ-OOS")
    failed = enter(plant, oos, "ASSAY", "98.5")
    approve(plant, failed)  # OOS: DEV-000002, open
    pending = request_sample(plant, "REQ-PRELIM")
    preliminary = enter(plant, pending, "ASSAY", "99.5")

    shown = review(plant)
    assert shown["ready_by_exception"] is False
    listed = {(i["kind"], i.get("result") or i.get("sample") or i.get("deviation")): i["why"]
              for i in shown["items"]}  # fmt: skip
    for key in (
        ("result_invalidated", first),
        ("result_retest", retest),
        ("result_out_of_specification", failed),
        ("deviation_open", "DEV-000002"),
        ("result_preliminary", preliminary),
        ("result_missing", pending),
    ):
        assert key in listed, (key, listed)
    assert "Wrong dilution" in listed[("result_invalidated", first)]
    assert f"retest of {first}" in listed[("result_retest", retest)]
    # The why names the limit set the result missed (release here, no [IPC] tag).
    assert "outside SPEC-A v2: NLT 99.0" in listed[("result_out_of_specification", failed)]
    assert all(why for why in listed.values())
    kinds = {kind for kind, _ in listed}
    assert "signature_broken" not in kinds and "record_changed" not in kinds
