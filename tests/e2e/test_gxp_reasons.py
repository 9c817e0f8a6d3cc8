"""One rule for the reasons of GxP actions (at least 10 characters of words), through the API and
the REST inbox: cancelling a sample (a person, or the MES by signed message: quarantined when
refused), cancelling a stability study (also signed), rejecting a batch. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from labgate.bootstrap import Hub
from plant import Plant, SeededPlant, request_sample
from senders import Sender, register

SHORT = ["0", "x", "...", "  n/a  ", "1234567890"]


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def mes(hub: Hub, plant: Plant) -> Sender:
    return Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))


def refusal(answer: Response) -> tuple[int, str, str | None]:
    body = answer.json()
    return answer.status_code, body["reason"], body.get("field")


def trail(plant: Plant, record_type: str, record_id: str) -> list[dict[str, Any]]:
    params = {"record_type": record_type, "record_id": record_id}
    answer = plant.call("auditor", "GET", "/api/v1/audit", params=params)
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


@pytest.mark.parametrize("reason", SHORT)
def test_a_person_cannot_cancel_a_sample_without_a_real_reason(plant: Plant, reason: str) -> None:
    sample = request_sample(plant, "REQ-1")
    path = f"/samples/{sample}/cancellation"
    answer = plant.call("production", "POST", path, json={"reason": reason})
    assert refusal(answer) == (422, "input.reason_too_short", "reason")
    assert plant.call("auditor", "GET", f"/samples/{sample}").json()["status"] == "registered"
    assert trail(plant, "sample", sample)[-1]["action"] == "refused.cancel_sample"
    why = "Container broken in transit"
    assert plant.call("production", "POST", path, json={"reason": why}).status_code == 200


def test_the_mes_cancelling_with_a_reason_of_one_character_is_quarantined(
    plant: Plant, mes: Sender
) -> None:
    sample = request_sample(plant, "REQ-1")
    headers = {"X-API-Key": plant.api_keys["mes"], "Content-Type": "application/json"}
    raw = mes.envelope("labgate.sample_cancellation.v1", {"sample": sample, "reason": "0"})
    answer = plant.client.post("/api/v1/inbox", content=raw, headers=headers)
    assert refusal(answer) == (422, "input.reason_too_short", "reason")
    item = answer.headers["X-Quarantine-Id"]
    held = plant.call("auditor", "GET", f"/api/v1/quarantine/{item}").json()
    assert (held["reason_code"], held["field"]) == ("input.reason_too_short", "reason")
    assert json.loads(held["raw_text"])["payload"]["reason"] == "0"
    assert plant.call("auditor", "GET", f"/samples/{sample}").json()["status"] == "registered"
    # The MES cannot sign: a real reason is all it needs.
    good = {"sample": sample, "reason": "Batch scrapped after a line stop"}
    raw = mes.envelope("labgate.sample_cancellation.v1", good)
    answer = plant.client.post("/api/v1/inbox", content=raw, headers=headers)
    assert answer.status_code == 200, answer.text
    assert plant.call("auditor", "GET", f"/samples/{sample}").json()["status"] == "cancelled"


def test_a_batch_rejection_needs_a_real_reason(plant: Plant) -> None:
    body = {"reason": "x", "signature": plant.signature("qa", "rejected")}
    answer = plant.call("qa", "POST", "/batches/B1/rejection", json=body)
    assert refusal(answer) == (422, "input.reason_too_short", "reason")
    actions = [e["action"] for e in trail(plant, "batch", "B1")]
    assert actions[-1] == "refused.reject_batch" and "batch.rejected" not in actions


def draft_study(plant: Plant) -> str:
    body = {
        "product": "P1",
        "batch": "B1",
        "conditions": [{"condition": "25C/60%RH", "time_points": [0, 3]}],
        "tests": ["ASSAY"],
        "start_at": "2026-01-05T08:00:00Z",
        "window_days": 7,
    }
    answer = plant.call("reviewer", "POST", "/stability-studies", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["code"])


def test_cancelling_a_stability_study_needs_a_real_reason_and_an_e_signature(
    plant: Plant,
) -> None:
    study = draft_study(plant)
    path = f"/stability-studies/{study}/cancellation"
    why = "Protocol superseded by STAB-2027 design"
    unsigned = plant.call("qa", "POST", path, json={"reason": why})
    assert unsigned.status_code == 422 and unsigned.json()["field"] == "signature"
    short = {"reason": "x", "signature": plant.signature("qa")}
    assert refusal(plant.call("qa", "POST", path, json=short)) == (
        422,
        "input.reason_too_short",
        "reason",
    )
    forged = {"reason": why, "signature": plant.signature("qa") | {"password": "wrong-one"}}
    assert refusal(plant.call("qa", "POST", path, json=forged))[:2] == (
        401,
        "signature.bad_credentials",
    )
    assert plant.call("qa", "GET", f"/stability-studies/{study}").json()["status"] == "draft"

    signed = {"reason": why, "signature": plant.signature("qa")}
    answer = plant.call("qa", "POST", path, json=signed)
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert (view["status"], view["close_reason"], view["closed_by"]) == ("cancelled", why, "qa")
    [signature] = view["signatures"]
    assert (signature["signer"], signature["meaning"], signature["status"]) == (
        "qa",
        "approved",
        "valid",
    )
    actions = [e["action"] for e in trail(plant, "stability_study", study)]
    assert actions[-2:] == ["stability_study.cancelled", "signature.applied"]
