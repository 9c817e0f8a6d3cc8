"""Replay under a status map changed by change control: each result is recomputed with the map
in force when the hub decided it (its audit entry's time), so a result decided before the change
and one decided after both replay identically, and neither is silently judged by the other's map."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from test_change_control import HELD_RULES, _approve, _raise, _result_status

from plant import SITE, Plant, SeededPlant, approved_result, request_sample


@pytest.fixture
def plant(seeded_plant: SeededPlant, client: TestClient) -> Plant:
    return seeded_plant.on(client)


@pytest.mark.requirement("URS-P11-11.10a", "URS-A11-10", category="boundary")
def test_results_decided_before_and_after_a_status_map_change_both_replay_identically(
    plant: Plant,
) -> None:
    sample = request_sample(plant, "RSM-1")
    before = approved_result(plant, sample, "ASSAY", "99.62", "%")
    change = _raise(plant, "status_map", {"rules": HELD_RULES})
    plant.call("admin", "POST", f"/change-requests/{change['code']}/assessment")
    assert _approve(plant, change["code"]).json()["state"] == "effective"
    after = approved_result(plant, sample, "APPEAR", "White tablet", None)
    assert (_result_status(plant, sample, before), _result_status(plant, sample, after)) == (
        "Accepted", "Pending"
    )  # fmt: skip

    for code in (before, after):
        answer = plant.call("auditor", "GET", f"/api/v1/sites/{SITE}/results/{code}/replay")
        assert answer.status_code == 200, answer.text
        assert (answer.json()["outcome"], answer.json()["differing_steps"]) == ("identical", [])

    # Nor does the data-quality rule on the status map take the earlier result for an error.
    ran = plant.call("qa", "POST", "/dq/runs")
    assert ran.status_code == 201, ran.text
    (consistency,) = [r for r in ran.json()["results"] if r["rule"] == "DQ-CONSIST-001"]
    assert (consistency["status"], consistency["measured"]) == ("pass", 0), consistency
