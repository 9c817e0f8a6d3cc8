"""IPC gates through the API: a sampling point's gate (master data, under change control) decides
whether its operation may complete; only reviewed results count."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from labgate.domain.errors import InvalidInput
from labgate.service.messages import OUTBOUND
from plant import (
    IPC_PLAN,
    PLANT,
    Plant,
    SeededPlant,
    approved_result,
    plan_version,
    request_sample,
)


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    plant = seeded_plant.on(client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), with_points(ipc="allow_with_deviation"),
                                      "CR-7: IPC sampling point on compression"))  # fmt: skip
    plan_version(plant, [IPC_PLAN])
    return plant


def with_points(ipc: str, release: str | None = None) -> dict[str, Any]:
    """The test plant with an IPC point beside the release point on the same operation."""
    document = copy.deepcopy(PLANT)
    [procedure] = document["procedures"]
    release_point = {"code": "SP-REL", "phase": "PROC1/UP1/OP1/PH1", "sample_type": "release"}
    if release is not None:
        release_point["gate"] = release
    procedure["sampling_points"] = [
        release_point,
        {"code": "SP-IPC", "phase": "PROC1/UP1/OP1/PH1", "sample_type": "IPC", "gate": ipc},
    ]
    return document


def sample_at(plant: Plant, point: str, request_id: str) -> str:
    return request_sample(plant, request_id, sampling_point=point)


def passing(plant: Plant, sample: str, assay: str = "99.5") -> None:
    for test, value, unit in (("ASSAY", assay, "%"), ("WATER", "0.2", "%"),
                              ("APPEAR", "White tablet", None)):  # fmt: skip
        approved_result(plant, sample, test, value, unit)


def gate(plant: Plant) -> dict[str, Any]:
    answer = plant.call("production", "GET", "/batches/B1/gates")
    assert answer.status_code == 200, answer.text
    [operation] = answer.json()["operations"]
    assert operation["operation"] == "PROC1/UP1/OP1"
    return dict(operation)


def whys(operation: dict[str, Any]) -> dict[str, str]:
    return {p["sampling_point"]: p["why"] for p in operation["points"]}


def test_the_operation_holds_until_its_samples_are_accepted_or_covered(plant: Plant) -> None:
    first = gate(plant)
    assert (first["may_complete"], first["waiting_for"]) == (False, ["SP-IPC", "SP-REL"])
    assert whys(first)["SP-REL"] == "no sample has been drawn here yet"

    release = sample_at(plant, "SP-REL", "REQ-REL")
    approved_result(plant, release, "ASSAY", "99.5", "%")
    shown = gate(plant)
    assert shown["waiting_for"] == ["SP-IPC", "SP-REL"]  # WATER and APPEAR still to come
    assert whys(shown)["SP-REL"] == f"waiting for reviewed results of {release}"
    approved_result(plant, release, "WATER", "0.2", "%")
    approved_result(plant, release, "APPEAR", "White tablet", None)
    assert gate(plant)["waiting_for"] == ["SP-IPC"]

    ipc = sample_at(plant, "SP-IPC", "REQ-IPC")
    passing(plant, ipc, assay="98.1")  # out of specification: Rejected, an OOS deviation opens
    shown = gate(plant)
    deviation = plant.call("qa", "GET", "/deviations", params={"batch": "B1"}).json()["items"]
    assert shown["may_complete"] is True
    assert whys(shown)["SP-IPC"] == (f"allowed with deviation: {ipc} under {deviation[0]['code']}")


@pytest.mark.requirement("URS-TX-007", category="boundary")
def test_results_on_their_limits_open_the_gate_with_the_last_bound_test_and_not_before(
    plant: Plant,
) -> None:
    release = sample_at(plant, "SP-REL", "REQ-REL")
    approved_result(plant, release, "ASSAY", "99.0", "%")  # NLT 99.0: on the limit, within it
    approved_result(plant, release, "WATER", "0.5", "%")  # NMT 0.5: on the limit, within it
    shown = gate(plant)
    assert shown["waiting_for"] == ["SP-IPC", "SP-REL"]  # one bound test (APPEAR) to come
    assert whys(shown)["SP-REL"] == f"waiting for reviewed results of {release}"
    approved_result(plant, release, "APPEAR", "White tablet", None)
    assert gate(plant)["waiting_for"] == ["SP-IPC"]
    sample = plant.call("production", "GET", f"/samples/{release}").json()
    assert {r["test_code"]: r["mes_status"] for r in sample["results"]} == {
        "ASSAY": "Accepted", "WATER": "Accepted", "APPEAR": "Accepted",
    }  # fmt: skip


def test_a_blocking_point_holds_on_a_rejected_sample(plant: Plant, hub: Hub) -> None:
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), with_points(ipc="block"),
                                      "CR-8: IPC point blocks"))  # fmt: skip
    passing(plant, sample_at(plant, "SP-REL", "REQ-REL"))
    ipc = sample_at(plant, "SP-IPC", "REQ-IPC")
    passing(plant, ipc, assay="98.1")
    shown = gate(plant)
    assert (shown["may_complete"], shown["waiting_for"]) == (False, ["SP-IPC"])
    assert whys(shown)["SP-IPC"] == f"{ipc} Rejected"


def test_an_informative_point_never_holds(plant: Plant, hub: Hub) -> None:
    hub.bus.handle(c.ImportMasterData(c.Context("admin"),
                                      with_points(ipc="informative", release="informative"),
                                      "CR-9: informative only"))  # fmt: skip
    assert gate(plant)["may_complete"] is True


def test_an_unknown_gate_in_master_data_is_refused_by_name(hub: Hub, plant: Plant) -> None:
    why = "CR-10: a gate named stop"
    with pytest.raises(InvalidInput) as refused:
        hub.bus.handle(c.ImportMasterData(c.Context("admin"), with_points(ipc="stop"), why))
    assert refused.value.reason == "gate.unknown"
    assert refused.value.field == "procedures[0].sampling_points[1].gate"
    assert plant.call("production", "GET", "/batches/NOPE/gates").status_code == 404


def told(plant: Plant) -> list[dict[str, Any]]:
    """What the MES was told about gates, oldest first, each checked against its schema."""
    answer = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000})
    rows = [m for m in answer.json()["items"] if m["message_type"] == "operation_gate"]
    for row in rows:
        assert (row["destination"], row["schema"]) == ("mes", "labgate.operation_gate.v1")
        OUTBOUND["labgate.operation_gate.v1"].model_validate(row["payload"])
    return [row["payload"] for row in sorted(rows, key=lambda r: r["id"])]


def said(plant: Plant) -> list[tuple[bool, list[str]]]:
    return [(m["may_complete"], m["waiting_for"]) for m in told(plant)]


def test_the_mes_is_told_when_a_gate_changes_and_only_then(plant: Plant, hub: Hub) -> None:
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), with_points(ipc="block"),
                                      "CR-8: IPC point blocks"))  # fmt: skip
    release = sample_at(plant, "SP-REL", "REQ-REL")
    assert said(plant) == [(False, ["SP-IPC", "SP-REL"])]
    [first] = told(plant)
    assert (first["batch"], first["operation"], first["hold"]) == ("B1", "PROC1/UP1/OP1", "on")
    assert first["procedure"] == "PROC1"

    approved_result(plant, release, "ASSAY", "99.5", "%")  # still waiting: nothing new to say
    assert len(told(plant)) == 1
    approved_result(plant, release, "WATER", "0.2", "%")
    approved_result(plant, release, "APPEAR", "White tablet", None)
    assert said(plant)[1:] == [(False, ["SP-IPC"])]

    ipc = sample_at(plant, "SP-IPC", "REQ-IPC")
    assert len(told(plant)) == 2  # SP-IPC now has a sample, still Pending: no change
    panel = (("ASSAY", "99.5", "%"), ("WATER", "0.2", "%"), ("APPEAR", "White tablet", None))
    results = [approved_result(plant, ipc, test, value, unit) for test, value, unit in panel]
    last = told(plant)[-1]
    assert (last["may_complete"], last["hold"], last["waiting_for"]) == (True, "off", [])
    assert last == {**last, **{k: gate(plant)[k] for k in ("may_complete", "waiting_for")}}
    assert {p["sampling_point"]: p["passes"] for p in last["points"]} == {
        "SP-IPC": True, "SP-REL": True,
    }  # fmt: skip

    body = {
        "reason": "Balance out of calibration",
        "signature": plant.signature("reviewer", "invalidated"),
    }
    answer = plant.call("reviewer", "POST", f"/results/{results[0]}/invalidation", json=body)
    assert answer.status_code == 200, answer.text
    assert said(plant)[-1] == (False, ["SP-IPC"])  # the retest is awaited: hold again
    assert len(told(plant)) == 4


def test_a_rejection_covered_by_its_deviation_lets_the_operation_go_on(plant: Plant) -> None:
    passing(plant, sample_at(plant, "SP-REL", "REQ-REL"))
    ipc = sample_at(plant, "SP-IPC", "REQ-IPC")
    passing(plant, ipc, assay="98.1")  # Rejected: the OOS deviation opens in the same transaction
    last = told(plant)[-1]
    assert (last["may_complete"], last["hold"]) == (True, "off")
    [point] = [p for p in last["points"] if p["sampling_point"] == "SP-IPC"]
    assert point["gate"] == "allow_with_deviation"
    assert point["why"].startswith(f"allowed with deviation: {ipc} under ")
    holds = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000}).json()
    assert any(m["message_type"] == "batch_hold" for m in holds["items"])  # the batch is held
