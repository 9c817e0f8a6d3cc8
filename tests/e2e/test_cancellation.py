"""A cancelled sample means Cancelled to the MES everywhere it is shown or sent, never Pending.
On SQLite and PostgreSQL, through the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labgate.bootstrap import Hub
from labgate.domain.errors import InvalidInput
from labgate.domain.lifecycle import ResultStatus, SampleStatus
from labgate.domain.status_map import SAMPLE_STATUS_RULES, MesStatus, StatusMap, StatusRule
from labgate.service.messages import SampleCancelledV1
from plant import Plant, SeededPlant, request_sample


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def sent(plant: Plant, kind: str) -> list[dict[str, Any]]:
    answer = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000})
    return [m for m in answer.json()["items"] if m["message_type"] == kind]


@pytest.mark.requirement("URS-TX-003")
def test_a_cancelled_sample_is_cancelled_to_the_mes_in_every_view_and_message(
    plant: Plant,
) -> None:
    sample = request_sample(plant, "REQ-C1")
    reason = {"reason": "Container broken in transit; a new sample is requested"}
    answer = plant.call("production", "POST", f"/samples/{sample}/cancellation", json=reason)
    assert answer.status_code == 200, answer.text
    assert answer.json()["mes_status"] == "Cancelled"
    assert plant.call("qa", "GET", f"/samples/{sample}").json()["mes_status"] == "Cancelled"
    batch = plant.call("production", "GET", "/batches/B1").json()
    assert batch["samples"] == [
        {"sample": sample, "status": "cancelled", "mes_status": "Cancelled"}
    ]
    dossier = plant.call("qa", "GET", "/batches/B1/dossier", params={"format": "json"})
    [shown] = json.loads(dossier.content)["samples"]
    assert shown["mes_status"] == "Cancelled"
    [to_mes] = [m for m in sent(plant, "sample_cancelled") if m["destination"] == "mes"]
    assert to_mes["payload"]["sample_status"] == "Cancelled"
    SampleCancelledV1.model_validate(to_mes["payload"])  # the published schema carries it


def test_every_sample_state_has_an_mes_meaning() -> None:
    assert set(SAMPLE_STATUS_RULES) == set(SampleStatus)
    assert SAMPLE_STATUS_RULES[SampleStatus.CANCELLED] is MesStatus.CANCELLED


def test_no_result_rule_may_say_cancelled() -> None:
    rules = [StatusRule(ResultStatus.INVALIDATED, r.outcome, MesStatus.CANCELLED)
             for r in StatusMap().rules[:1]]  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        StatusMap([*StatusMap().rules, *rules])
    assert refused.value.reason == "status_map.cancelled_result"
