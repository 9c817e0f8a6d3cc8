"""Raw materials through the API: identity on every lot, the full panel by the SkSP-2 plan with
the draw recorded and audited, release only on Accepted tests, the supplier's CoA compared.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from plant import SITE, V1_FROM, Plant, SeededPlant, approved_result

RAW: dict[str, Any] = {
    "site": {"code": SITE, "name": "Test plant"},
    "materials": [{"code": "API-1", "name": "Active ingredient", "kind": "raw"}],
    "tests": [
        {
            "code": "IDENT",
            "name": "Identity (IR)",
            "unit": None,
            "method": "M-VIS",
            "method_version": "1",
            "value_kind": "text",
        },
    ],
    "specifications": [
        {
            "code": "SPEC-RM",
            "versions": [
                {
                    "version": 1,
                    "limits": [
                        {"test": "IDENT", "limit": "CONFORMS: Matches reference"},
                        {"test": "ASSAY", "limit": "NLT 98.0"},
                        {"test": "WATER", "limit": "NMT 0.5"},
                    ],
                }
            ],
        }
    ],
}
PASSING = {"IDENT": ("Matches reference", None), "ASSAY": ("99.5", "%"), "WATER": ("0.2", "%")}
PLAN = {"specification": "SPEC-RM", "identity_tests": ["IDENT"], "clearance": 2,
        "fraction": "0.5", "reason": "CC-7: supplier qualified"}  # fmt: skip


class Draws:
    """A fixed sequence of draws in place of the OS's source; records how many were made."""

    def __init__(self, *values: str) -> None:
        self.values = [Decimal(v) for v in values]
        self.made = 0

    def __call__(self) -> Decimal:
        self.made += 1
        return self.values[self.made - 1]


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    seeded = seeded_plant.on(client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), RAW, "CR-2: raw material"))
    qa = c.SignatureInput("qa", seeded.passwords["qa"], "approved")
    hub.bus.handle(c.ApproveSpecVersion(c.Context("qa"), SITE, "SPEC-RM", 1, qa))
    hub.bus.handle(
        c.MakeSpecVersionEffective(c.Context("qa"), SITE, "SPEC-RM", 1, V1_FROM, "CR-2: in force")
    )
    return seeded


@pytest.fixture
def draws(hub: Hub) -> Draws:
    fixed = Draws("0.9", "0.1")
    hub.bus.deps = dataclasses.replace(hub.bus.deps, draw=fixed)
    return fixed


def configure(plant: Plant, **change: Any) -> Response:
    return plant.call("qa", "PUT", "/skip-lot-plans/API-1/SUP-1", json={**PLAN, **change})


def receive(plant: Plant, supplier_lot: str) -> dict[str, Any]:
    body = {"material": "API-1", "supplier": "SUP-1", "supplier_lot": supplier_lot,
            "received_at": "2026-11-24T08:00:00Z"}  # fmt: skip
    answer = plant.call("analyst", "POST", "/lots", json=body)
    assert answer.status_code == 201, answer.text
    lot: dict[str, Any] = answer.json()
    return lot


def lab_results(plant: Plant, lot: dict[str, Any], **values: tuple[str, str | None]) -> None:
    for test in lot["planned_tests"]:
        value, unit = values.get(test, PASSING[test])
        approved_result(plant, lot["sample"], test, value, unit)


def decide(plant: Plant, lot: str, how: str = "release", meaning: str = "released") -> Response:
    body = {"reason": "QA disposition", "signature": plant.signature("qa", meaning)}
    return plant.call("qa", "POST", f"/lots/{lot}/{how}", json=body)


def refused(answer: Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["reason"]


def audit(plant: Plant, record_type: str, record_id: str) -> list[dict[str, Any]]:
    params = {"record_type": record_type, "record_id": record_id}
    items: list[dict[str, Any]] = plant.call(
        "auditor", "GET", "/api/v1/audit", params=params
    ).json()["items"]
    return items


def lot_statuses(plant: Plant) -> list[tuple[str, str, bool]]:
    answer = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000})
    return [
        (m["payload"]["lot"], m["payload"]["status"], m["payload"]["full_panel"])
        for m in answer.json()["items"]
        if m["message_type"] == "lot_status"
    ]


def test_skip_lot_sampling_from_receipt_to_release(plant: Plant, draws: Draws) -> None:
    assert configure(plant).status_code == 200
    decided = []
    for n in (1, 2):
        lot = receive(plant, f"SL-{n}")
        assert (lot["inspection_state"], lot["full_panel"], lot["draw"]) == ("normal", True, None)
        assert lot["planned_tests"] == ["IDENT", "ASSAY", "WATER"]
        assert refused(decide(plant, lot["code"])) == (409, "release.result_missing")
        lab_results(plant, lot)
        released = decide(plant, lot["code"])
        assert released.status_code == 200, released.text
        assert released.json()["status"] == "released"
        decided.append((lot["code"], "released", True))
    plan = plant.call("production", "GET", "/skip-lot-plans/API-1/SUP-1").json()
    assert (plan["state"], plan["consecutive_accepted"]) == ("skipping", 2)

    skipped = receive(plant, "SL-3")  # draw 0.9 >= 0.5: identity only
    assert (skipped["inspection_state"], skipped["full_panel"]) == ("skipping", False)
    assert (skipped["draw"], skipped["planned_tests"]) == ("0.9", ["IDENT"])
    [received] = [e for e in audit(plant, "lot", skipped["code"]) if e["action"] == "lot.received"]
    assert received["after"]["draw"] == "0.9"
    assert "draw 0.9 against fraction 0.5: identity only" in received["reason"]
    lab_results(plant, skipped)
    assert decide(plant, skipped["code"]).status_code == 200
    decided.append((skipped["code"], "released", False))

    inspected = receive(plant, "SL-4")  # draw 0.1 < 0.5: full panel, which fails
    assert (inspected["draw"], inspected["planned_tests"]) == ("0.1", ["IDENT", "ASSAY", "WATER"])
    lab_results(plant, inspected, ASSAY=("97.0", "%"))
    assert refused(decide(plant, inspected["code"])) == (409, "release.test_rejected")
    shown = plant.call("production", "GET", f"/lots/{inspected['code']}").json()
    assert {b["reason"] for b in shown["release_blockers"]} == {
        "release.test_rejected",
        "release.on_hold",
    }
    rejected = decide(plant, inspected["code"], "rejection", "rejected")
    assert rejected.status_code == 200, rejected.text
    decided.append((inspected["code"], "rejected", True))
    plan = plant.call("production", "GET", "/skip-lot-plans/API-1/SUP-1").json()
    assert (plan["state"], plan["consecutive_accepted"]) == ("normal", 0)
    assert [lot["draw"] for lot in plan["lots"]] == [None, None, "0.9", "0.1"]

    back = receive(plant, "SL-5")  # normal inspection again: no draw, full panel
    assert (back["inspection_state"], back["full_panel"], back["draw"]) == ("normal", True, None)
    assert draws.made == 2
    assert lot_statuses(plant) == decided
    actions = [e["action"] for e in audit(plant, "skip_lot_plan", "API-1/SUP-1")]
    assert actions == ["skip_lot_plan.configured"] + ["skip_lot_plan.outcome_recorded"] * 4


def test_the_supplier_coa_is_compared_and_an_out_of_limit_value_flagged(plant: Plant) -> None:
    configure(plant)
    lot = receive(plant, "SL-1")
    lab_results(plant, lot)
    tests = [{"test_code": "ASSAY", "value": "97.5", "unit": "%"},
             {"test_code": "WATER", "value": "0.3", "unit": "%"}]  # fmt: skip
    answer = plant.call(
        "analyst", "POST", f"/lots/{lot['code']}/supplier-coa", json={"tests": tests}
    )
    assert answer.status_code == 200, answer.text
    coa = {line["test_code"]: line for line in answer.json()["supplier_coa"]}
    assert (coa["ASSAY"]["within_limit"], coa["ASSAY"]["flagged"]) == (False, True)
    assert (coa["ASSAY"]["labgate_value"], coa["ASSAY"]["difference"]) == ("99.5", "-2.0")
    assert (coa["WATER"]["within_limit"], coa["WATER"]["flagged"]) == (True, False)
    assert coa["WATER"]["difference"] == "0.1"
    # A flag is not a rejection: the lot is released on its own Accepted results.
    assert decide(plant, lot["code"]).status_code == 200


def test_refusals_and_access(plant: Plant) -> None:
    body = {"material": "API-1", "supplier": "SUP-1", "supplier_lot": "X",
            "received_at": "2026-11-24T08:00:00Z"}  # fmt: skip
    assert refused(plant.call("analyst", "POST", "/lots", json=body)) == (
        409,
        "skip_lot_plan.unknown",
    )
    assert refused(configure(plant, identity_tests=["PH"])) == (
        422,
        "skip_lot.identity_not_in_spec",
    )
    put = plant.call("analyst", "PUT", "/skip-lot-plans/API-1/SUP-1", json=PLAN)
    assert refused(put) == (403, "access.missing_permission")
    assert refused(plant.call("production", "POST", "/lots", json=body)) == (
        403,
        "access.missing_permission",
    )
    configure(plant)
    lot = receive(plant, "SL-1")
    lab_results(plant, lot)
    assert refused(decide(plant, lot["code"], meaning="approved")) == (
        422,
        "signature.wrong_meaning",
    )
    sign = {"reason": "r", "signature": plant.signature("analyst", "released")}
    answer = plant.call("analyst", "POST", f"/lots/{lot['code']}/release", json=sign)
    assert refused(answer) == (403, "access.missing_permission")
    assert plant.call("mes", "GET", f"/lots/{lot['code']}").status_code == 200
    assert decide(plant, lot["code"]).status_code == 200
    assert refused(decide(plant, lot["code"])) == (409, "lot.already_decided")


def test_a_lot_decision_needs_a_reason_that_says_why(plant: Plant) -> None:
    configure(plant)
    lot = receive(plant, "SL-9")
    path = f"/lots/{lot['code']}/rejection"
    for reason in ("x", "0", "----------"):
        body = {"reason": reason, "signature": plant.signature("qa", "rejected")}
        answer = plant.call("qa", "POST", path, json=body)
        assert (answer.status_code, answer.json()["reason"], answer.json()["field"]) == (
            422,
            "input.reason_too_short",
            "reason",
        )
    assert plant.call("qa", "GET", f"/lots/{lot['code']}").json()["status"] == "quarantine"
    body = {"reason": "Supplier CoA forged", "signature": plant.signature("qa", "rejected")}
    assert plant.call("qa", "POST", path, json=body).status_code == 200
