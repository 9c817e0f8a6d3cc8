"""Each signed action takes only its own meaning: an approval signed "rejected" is refused, not
recorded beside an Accepted the MES was told. On SQLite and PostgreSQL, through the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from labgate.bootstrap import Hub
from labgate.compliance.signatures import Meaning
from labgate.compliance.signed_actions import MEANINGS
from labgate.domain import commands as c
from labgate.domain.errors import InvalidInput
from plant import SITE, Plant, SeededPlant, request_sample


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def entered(plant: Plant, value: str = "99.62") -> str:
    sample = request_sample(plant, "REQ-M1")
    body = {"sample": sample, "test_code": "ASSAY", "value": value, "unit": "%",
            "method_version": "1", "analyst": "analyst"}  # fmt: skip
    answer = plant.call("analyst", "POST", "/results", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["results"][-1]["code"])


def outbox_results(plant: Plant) -> list[dict[str, Any]]:
    answer = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000})
    return [m for m in answer.json()["items"] if m["message_type"] == "result"]


@pytest.mark.requirement("URS-P11-11.10j", category="negative")
@pytest.mark.parametrize("meaning", ["rejected", "authored", "released", "invalidated"])
def test_an_approval_signed_with_another_meaning_is_refused_and_changes_nothing(
    plant: Plant, meaning: str
) -> None:
    result = entered(plant)
    body = {"signature": plant.signature("reviewer", meaning)}
    answer = plant.call("reviewer", "POST", f"/results/{result}/approval", json=body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert (problem["reason"], problem["field"]) == ("signature.wrong_meaning", "signature.meaning")
    sample = plant.call("qa", "GET", f"/samples/{result.rsplit('-R', 1)[0]}").json()
    [shown] = sample["results"]
    assert shown["status"] == "preliminary" and shown["signatures"] == []
    assert outbox_results(plant) == []


@pytest.mark.requirement("URS-TX-005", category="negative")
def test_invalidation_and_oot_acknowledgement_check_their_meaning(plant: Plant) -> None:
    result = entered(plant)
    approved = plant.call(
        "reviewer", "POST", f"/results/{result}/approval",
        json={"signature": plant.signature("reviewer")},
    )  # fmt: skip
    assert approved.status_code == 200, approved.text
    wrong = {"reason": "Balance out of calibration", "signature": plant.signature("reviewer")}
    answer = plant.call("reviewer", "POST", f"/results/{result}/invalidation", json=wrong)
    assert answer.json()["reason"] == "signature.wrong_meaning"
    right = {**wrong, "signature": plant.signature("reviewer", "invalidated")}
    answer = plant.call("reviewer", "POST", f"/results/{result}/invalidation", json=right)
    assert answer.status_code == 200, answer.text
    [shown] = answer.json()["results"]
    assert [s["meaning"] for s in shown["signatures"]] == ["approved", "invalidated"]


def test_the_handler_refuses_a_wrong_meaning_whatever_the_edge(plant: Plant, hub: Hub) -> None:
    """The CLI and the demo seed reach the bus without the API's schema: the table still holds."""
    result = entered(plant)
    signature = c.SignatureInput("reviewer", plant.passwords["reviewer"], "rejected")
    command = c.ApproveResult(c.Context("reviewer"), SITE, result, signature)
    with pytest.raises(InvalidInput) as refused:
        hub.bus.handle(command)
    assert refused.value.reason == "signature.wrong_meaning"


def test_the_openapi_lists_each_actions_meanings_from_the_one_table(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    documented = {
        name: schema["properties"]["meaning"]["enum"]
        for name, schema in schemas.items()
        if name.endswith("Signature")
    }
    expected = {
        "".join(p.title() for p in action.value.replace("_", ".").split(".")) + "Signature": [
            m.value for m in meanings
        ]
        for action, meanings in MEANINGS.items()
    }
    assert {k: documented.get(k) for k in expected} == expected
    approval = schemas["ApprovalIn"]["properties"]["signature"]["$ref"]
    assert approval.endswith("/ResultApproveSignature")
    assert documented["ResultApproveSignature"] == [Meaning.APPROVED.value]
