"""Sampling plans through the API and the signed inbox: a sampling point plans only its own tests
under its own limit set, bound at sampling time; gates, CoA and dossier follow the plan."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.service.inbox.admission import ReceiptRefused
from plant import PLANT, Plant, SeededPlant, approved_result, plan_version, request_sample
from senders import Sender, register

# The dried granulate's water is an in-process control: NMT 0.3 % (the release limit is 0.5 %).
IPC_WATER = {"test": "WATER", "limit": "NMT 0.3", "limit_set": "IPC"}
GRAN_PLAN = {"sampling_point": "SP-GRAN", "limit_set": "IPC", "tests": ["WATER"]}


def with_ipc_points() -> dict[str, Any]:
    """The test plant with a blocking dried-granulate point and an IPC point nobody planned."""
    document = copy.deepcopy(PLANT)
    [procedure] = document["procedures"]
    phase = "PROC1/UP1/OP1/PH1"
    procedure["sampling_points"] += [
        {"code": "SP-GRAN", "phase": phase, "sample_type": "IPC", "gate": "block"},
        {"code": "SP-NOPLAN", "phase": phase, "sample_type": "IPC", "gate": "informative"},
    ]
    return document


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    plant = seeded_plant.on(client)
    body = {"document": with_ipc_points(), "reason": "CR-20: IPC points on compression"}
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text
    plan_version(plant, [GRAN_PLAN], extra_limits=(IPC_WATER,))  # SPEC-A v3, from 21 Nov
    return plant


def sample(plant: Plant, code: str) -> dict[str, Any]:
    answer = plant.call("analyst", "GET", f"/samples/{code}")
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def planned(shown: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(t["test_code"], t["limit"], t["characteristic"]) for t in shown["tests"]]


def test_a_dried_granulate_sample_plans_only_its_ipc_tests_under_the_ipc_limits(
    plant: Plant,
) -> None:
    code = request_sample(plant, "REQ-GRAN", sampling_point="SP-GRAN")
    shown = sample(plant, code)
    assert (shown["spec_version"], shown["limit_set"]) == (3, "IPC")
    assert planned(shown) == [("WATER", "NMT 0.3", "C-WATER")]

    # 0.4 % meets the release limit (NMT 0.5) but not the granulate's: judged by the IPC set.
    result = approved_result(plant, code, "WATER", "0.4", "%")
    [judged] = sample(plant, code)["results"]
    assert (judged["code"], judged["conforms"], judged["mes_status"]) == (result, False, "Rejected")
    assert judged["limit_set"] == "SPEC-A v3 [IPC]: NMT 0.3"
    review = plant.call("qa", "GET", "/batches/B1/review").json()["items"]
    whys = {i["kind"]: i["why"] for i in review if i.get("result") == result}
    assert whys["result_out_of_specification"].endswith("0.4 is outside SPEC-A v3 [IPC]: NMT 0.3.")
    assert not [i for i in review if i["kind"] == "result_missing"]  # nothing else was planned
    assert plant.call("analyst", "POST", "/results", json={
        "sample": code, "test_code": "ASSAY", "value": "99.5", "unit": "%",
        "method_version": "1", "analyst": "analyst",
    }).json()["reason"] == "result.test_not_planned"  # fmt: skip

    release = sample(plant, request_sample(plant, "REQ-REL", sampling_point="SP-REL"))
    assert release["limit_set"] == "release"
    assert planned(release) == [
        ("ASSAY", "NLT 99.0", "C-ASSAY"),
        ("WATER", "NMT 0.5", "C-WATER"),
        ("APPEAR", "CONFORMS: White tablet", "C-APPEAR"),
    ]


def test_a_point_without_a_plan_is_refused_with_its_reason_and_audited(plant: Plant) -> None:
    body = {"mes_request_id": "REQ-NOPLAN", "product": "P1", "batch": "B1",
            "sampled_at": "2026-11-24T10:00:00Z", "sampling_point": "SP-NOPLAN"}  # fmt: skip
    answer = plant.call("mes", "POST", "/sample-requests", json=body)
    problem = answer.json()
    assert (answer.status_code, problem["reason"], problem["field"]) == (
        409, "sampling_plan.none_for_point", "sampling_point",
    )  # fmt: skip
    assert "no sampling plan for IPC sampling point SP-NOPLAN" in problem["detail"]
    trail = plant.call("auditor", "GET", "/api/v1/audit", params={"limit": 500}).json()["items"]
    [entry] = [e for e in trail if e["action"].startswith("refused.")][-1:]
    assert (entry["actor"], entry["after"]["reason_code"]) == ("mes", problem["reason"])
    # A characteristic outside the point's plan is refused too, by name.
    named = {**body, "mes_request_id": "REQ-CHAR", "sampling_point": "SP-GRAN",
             "characteristics": ["C-ASSAY"]}  # fmt: skip
    answer = plant.call("mes", "POST", "/sample-requests", json=named)
    assert (answer.status_code, answer.json()["reason"]) == (409, "sampling_plan.test_not_planned")


def test_the_mes_over_the_signed_inbox_gets_the_plan_and_a_refusal_is_quarantined(
    hub: Hub, plant: Plant
) -> None:
    mes = Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))

    def asked(request_id: str, point: str) -> bytes:
        payload = {"mes_request_id": request_id, "product": "P1", "batch": "B1",
                   "sampled_at": "2026-11-24T10:00:00Z", "sampling_point": point}  # fmt: skip
        return mes.envelope("labgate.sample_request.v1", payload)

    assert mes.send(asked("REQ-INBOX", "SP-GRAN")).status == "applied"
    shown = plant.call("mes", "GET", "/sample-requests/REQ-INBOX").json()
    assert (shown["limit_set"], planned(shown)) == ("IPC", [("WATER", "NMT 0.3", "C-WATER")])

    raw = asked("REQ-INBOX-2", "SP-NOPLAN")
    with pytest.raises(ReceiptRefused) as refused:
        mes.send(raw)
    assert refused.value.reason == "sampling_plan.none_for_point"
    with hub.engine.connect() as connection:
        row = connection.execute(
            select(t.quarantine).where(t.quarantine.c.id == refused.value.quarantine_id)
        ).mappings().one()  # fmt: skip
        actions = list(connection.scalars(select(t.audit_entries.c.action)))
    assert (row["raw"], row["reason_code"], row["field"]) == (
        raw, "sampling_plan.none_for_point", "sampling_point",
    )  # fmt: skip
    assert "quarantine.added" in actions


def test_a_plan_changed_after_sampling_does_not_reach_the_in_flight_sample(plant: Plant) -> None:
    in_flight = request_sample(plant, "REQ-OLD", sampling_point="SP-GRAN")  # 24 Nov: v3
    # v4 from 25 Nov: the granulate also gets appearance, and water tightens to 0.25 %.
    stricter = (
        {"test": "WATER", "limit": "NMT 0.25", "limit_set": "IPC"},
        {"test": "APPEAR", "limit": "CONFORMS: White granulate", "limit_set": "IPC"},
    )
    plans = [{**GRAN_PLAN, "tests": ["WATER", "APPEAR"]}]
    plan_version(plant, plans, stricter, version=4, effective_from="2026-11-25T00:00:00Z")
    later = request_sample(plant, "REQ-NEW", sampling_point="SP-GRAN",
                           sampled_at="2026-11-25T08:00:00Z")  # fmt: skip

    old, new = sample(plant, in_flight), sample(plant, later)
    assert (old["spec_version"], planned(old)) == (3, [("WATER", "NMT 0.3", "C-WATER")])
    assert (new["spec_version"], [t[:2] for t in planned(new)]) == (
        4, [("WATER", "NMT 0.25"), ("APPEAR", "CONFORMS: White granulate")],
    )  # fmt: skip
    approved_result(plant, in_flight, "WATER", "0.28", "%")
    approved_result(plant, later, "WATER", "0.28", "%")
    assert sample(plant, in_flight)["results"][0]["conforms"] is True  # NMT 0.3, as bound
    assert sample(plant, later)["results"][0]["conforms"] is False


def gate(plant: Plant) -> dict[str, Any]:
    answer = plant.call("production", "GET", "/batches/B1/gates")
    assert answer.status_code == 200, answer.text
    [operation] = answer.json()["operations"]
    return dict(operation)


def test_the_gate_waits_only_for_the_points_own_tests(plant: Plant) -> None:
    code = request_sample(plant, "REQ-GATE", sampling_point="SP-GRAN")
    assert gate(plant)["waiting_for"] == ["SP-GRAN"]
    approved_result(plant, code, "WATER", "0.2", "%")
    shown = gate(plant)
    assert (shown["may_complete"], shown["waiting_for"]) == (True, [])
    assert sample(plant, code)["mes_status"] == "Accepted"


def test_the_coa_certifies_release_tests_and_the_dossier_shows_ipc_under_its_limits(
    plant: Plant,
) -> None:
    ipc = request_sample(plant, "REQ-D-GRAN", sampling_point="SP-GRAN")
    approved_result(plant, ipc, "WATER", "0.2", "%")
    release = request_sample(plant, "REQ-D-REL", sampling_point="SP-REL")
    for test, value, unit in (("ASSAY", "99.5", "%"), ("WATER", "0.2", "%"),
                              ("APPEAR", "White tablet", None)):  # fmt: skip
        approved_result(plant, release, test, value, unit)
    signature = {"signature": plant.signature("qa", "released")}
    assert plant.call("qa", "POST", "/batches/B1/release", json=signature).status_code == 200

    answer = plant.call("production", "GET", "/batches/B1/coa", params={"format": "json"})
    assert answer.status_code == 200, answer.text
    [certified] = json.loads(answer.content)["samples"]
    assert certified["sample"] == release
    assert [(t["test_code"], t["limit"]) for t in certified["tests"]] == [
        ("ASSAY", "NLT 99.0"), ("WATER", "NMT 0.5"), ("APPEAR", "CONFORMS: White tablet"),
    ]  # fmt: skip

    answer = plant.call("auditor", "GET", "/batches/B1/dossier", params={"format": "json"})
    shown = {s["code"]: s for s in json.loads(answer.content)["samples"]}
    granulate = shown[ipc]
    assert (granulate["sampling_point"], granulate["limit_set"]) == ("SP-GRAN", "IPC")
    [result] = granulate["results"]
    assert result["provenance"]["evaluated"] == "conforms to NMT 0.3 (band none)"
    assert result["limit_set"] == "SPEC-A v3 [IPC]: NMT 0.3"
    html = plant.call("auditor", "GET", "/batches/B1/dossier", params={"format": "html"}).text
    assert f"Sample {ipc} at SP-GRAN, IPC limits" in html
    assert f"Sample {release} at SP-REL, release limits" in html
