"""Change control through the API, on SQLite and PostgreSQL: a status-map change, a spec
version's retirement and a method version's deprecation, each raised, assessed, approved by QA
with an e-signature (never by its author) and effective from its date; every step audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.domain.change_commands import ApplyDueChanges
from labgate.domain.commands import Context
from plant import (
    SITE,
    Plant,
    SeededPlant,
    approved_result,
    request_sample,
)

CR = "/change-requests"
# The default map, except that an approved conforming result leaves the MES at Pending.
HELD_RULES = [
    {"lims_status": "preliminary", "outcome": "any", "mes_status": "Pending"},
    {"lims_status": "approved", "outcome": "conforms", "mes_status": "Pending"},
    {"lims_status": "approved", "outcome": "not_conforming", "mes_status": "Rejected"},
    {"lims_status": "invalidated", "outcome": "any", "mes_status": "Pending"},
]


@pytest.fixture
def plant(seeded_plant: SeededPlant, client: TestClient) -> Plant:
    return seeded_plant.on(client)


def _raise(plant: Plant, kind: str, proposal: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"kind": kind, "title": f"Change the {kind}", "reason": "Plant QA decision QD-7",
            "proposal": proposal, **extra}  # fmt: skip
    answer = plant.call("admin", "POST", CR, json=body)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _assess(plant: Plant, code: str) -> dict[str, Any]:
    answer = plant.call("admin", "POST", f"{CR}/{code}/assessment")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _approve(plant: Plant, code: str, user: str = "qa") -> Any:
    return plant.call(user, "POST", f"{CR}/{code}/approval",
                      json={"signature": plant.signature(user)})  # fmt: skip


def _result_status(plant: Plant, sample: str, result: str) -> str:
    found = plant.call("auditor", "GET", f"/samples/{sample}").json()
    return str(next(r for r in found["results"] if r["code"] == result)["mes_status"])


def _trail(hub: Hub, record_id: str) -> list[str]:
    a = t.audit_entries.c
    with hub.sessions() as session:
        return list(
            session.scalars(select(a.action).where(a.record_id == record_id).order_by(a.seq))
        )


@pytest.mark.requirement("URS-A11-10", "URS-TX-006", "URS-P11-11.10f")
def test_a_status_map_change_is_assessed_approved_by_qa_and_maps_later_results(
    plant: Plant, hub: Hub
) -> None:
    before = request_sample(plant, "CC-1")
    decided = approved_result(plant, before, "ASSAY", "99.62", "%")
    assert _result_status(plant, before, decided) == "Accepted"
    cr = _raise(plant, "status_map", {"rules": HELD_RULES})
    assert (cr["state"], cr["author"]) == ("draft", "admin")
    assessed = _assess(plant, cr["code"])
    assert f"{SITE}/{before}" in assessed["assessment"]["open_samples"]
    assert {"URS-TX-006", "URS-A11-10"} <= {r["id"] for r in assessed["assessment"]["requirements"]}
    assert "labgate.result.v1" in assessed["assessment"]["message_types"]["inbound"]

    # Nothing is effective without approval: the map in force is still the old one.
    water = approved_result(plant, before, "WATER", "3.1", "mg/g")
    assert _result_status(plant, before, water) == "Accepted"

    approved = _approve(plant, cr["code"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "effective"  # no date given: in force from approval

    after = approved_result(plant, before, "APPEAR", "White tablet", None)
    assert _result_status(plant, before, after) == "Pending"
    assert _result_status(plant, before, decided) == "Accepted"  # decided: never changed
    assert _trail(hub, cr["code"]) == [
        "change_request.raised", "change_request.assessed", "change_request.approved",
        "signature.applied", "change_request.effective",
    ]  # fmt: skip


@pytest.mark.requirement("URS-A11-10", "URS-P11-11.10g", category="negative")
def test_its_author_cannot_approve_and_a_stale_assessment_is_refused(
    plant: Plant, hub: Hub
) -> None:
    # No role may both author and approve (LABGATE_ROLE_CONFLICTS keeps integration_admin and
    # qa apart); the handler refuses its author too (tests/unit/test_change_control.py).
    code = _raise(plant, "status_map", {"rules": HELD_RULES})["code"]
    _assess(plant, code)
    refused = _approve(plant, code, "admin")
    assert refused.status_code == 403, refused.text
    request_sample(plant, "CC-2")  # a new open sample: the assessment no longer holds
    stale = _approve(plant, code)
    assert stale.status_code == 409 and stale.json()["reason"] == "change.assessment_stale"
    assert plant.call("auditor", "GET", f"{CR}/{code}").json()["state"] == "assessed"
    _assess(plant, code)
    assert _approve(plant, code).status_code == 200


@pytest.mark.requirement("URS-A11-10", "URS-TX-001")
def test_a_retired_spec_version_binds_no_new_sample_and_in_flight_keep_it(
    plant: Plant, hub: Hub, clock: ManualClock
) -> None:
    in_flight = request_sample(plant, "CC-3")
    when = clock.now() + timedelta(hours=1)
    cr = _raise(plant, "spec_retirement", {"specification": "SPEC-A", "version": 2},
                effective_from=when.isoformat())  # fmt: skip
    assert f"{SITE}/{in_flight}" in _assess(plant, cr["code"])["assessment"]["open_samples"]
    assert _approve(plant, cr["code"]).json()["state"] == "approved"  # not yet its date
    assert hub.bus.handle(ApplyDueChanges(Context("system", "system"))).applied == []
    clock.advance(hours=2)
    done = hub.bus.handle(ApplyDueChanges(Context("system", "system")))
    assert (done.applied, done.not_applied) == ([f"{SITE}/{cr['code']}"], [])
    later = request_sample(plant, "CC-4", sampled_at=(when + timedelta(minutes=1)).isoformat())
    assert plant.call("auditor", "GET", f"/samples/{later}").json()["spec_version"] != 2
    assert plant.call("auditor", "GET", f"/samples/{in_flight}").json()["spec_version"] == 2
    assert "specification.retired" in _trail(hub, "SPEC-A v2")


@pytest.mark.requirement("URS-A11-10", "URS-TX-001", category="negative")
def test_a_deprecated_method_version_refuses_new_samples_after_its_date(
    plant: Plant, hub: Hub, clock: ManualClock
) -> None:
    when = clock.now() + timedelta(minutes=30)
    cr = _raise(plant, "method_deprecation", {"method": "M-ASSAY", "version": "1"},
                effective_from=when.isoformat())  # fmt: skip
    _assess(plant, cr["code"])
    assert _approve(plant, cr["code"]).status_code == 200
    clock.advance(hours=1)
    hub.bus.handle(ApplyDueChanges(Context("system", "system")))
    body = {"mes_request_id": "CC-5", "product": "P1", "batch": "B1", "sampling_point": "SP-REL",
            "sampled_at": (when + timedelta(seconds=1)).isoformat()}  # fmt: skip
    refused = plant.call("mes", "POST", "/sample-requests", json=body)
    assert refused.status_code == 409, refused.text
    assert (refused.json()["reason"], refused.json()["field"]) == (
        "method_version.deprecated", "method_version",
    )  # fmt: skip
    before = request_sample(plant, "CC-6", sampled_at=(when - timedelta(minutes=1)).isoformat())
    assert plant.call("auditor", "GET", f"/samples/{before}").status_code == 200
    assert "method_version.deprecated" in _trail(hub, "M-ASSAY v1")
