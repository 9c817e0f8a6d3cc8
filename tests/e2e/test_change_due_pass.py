"""The due pass of change control runs by itself: the relay's periodic part, the CLI and the API
put in force an approved request whose date has come, never before; a status map approved for
a date maps results from that date on, before any pass has run. SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fakes import ManualClock
from labgate.bootstrap import Hub
from labgate.domain.change_control import ChangeRequest
from labgate.domain.masterdata import SpecVersion
from labgate.entrypoints.cli.due_changes import DueChanges
from labgate.entrypoints.cli.main import app
from labgate.service.outbox.relay import RELAY_ACTOR
from plant import SITE, Plant, SeededPlant, approved_result, request_sample

CR = "/change-requests"
HELD_RULES = [  # the default map, except that an approved conforming result stays Pending
    {"lims_status": "preliminary", "outcome": "any", "mes_status": "Pending"},
    {"lims_status": "approved", "outcome": "conforms", "mes_status": "Pending"},
    {"lims_status": "approved", "outcome": "not_conforming", "mes_status": "Rejected"},
    {"lims_status": "invalidated", "outcome": "any", "mes_status": "Pending"},
]


@pytest.fixture
def plant(seeded_plant: SeededPlant, client: TestClient) -> Plant:
    return seeded_plant.on(client)


def _approve_later(plant: Plant, kind: str, proposal: dict[str, Any], when: datetime) -> str:
    body = {"kind": kind, "title": f"Change the {kind}", "reason": "Plant QA decision QD-9",
            "proposal": proposal, "effective_from": when.isoformat()}  # fmt: skip
    raised = plant.call("admin", "POST", CR, json=body)
    assert raised.status_code == 201, raised.text
    code = str(raised.json()["code"])
    assert plant.call("admin", "POST", f"{CR}/{code}/assessment").status_code == 200
    answer = plant.call("qa", "POST", f"{CR}/{code}/approval",
                        json={"signature": plant.signature("qa")})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "approved"  # not yet its date
    return code


def _result_status(plant: Plant, sample: str, result: str) -> str:
    found = plant.call("auditor", "GET", f"/samples/{sample}").json()
    return str(next(r for r in found["results"] if r["code"] == result)["mes_status"])


def _state(hub: Hub, code: str) -> str:
    # Read from the store: the test clock moves past the lifetime of the API's tokens.
    with hub.uow_factory() as uow:
        found = uow.records.get(ChangeRequest, site=SITE, code=code)
        assert found is not None
        return found.state.value


@pytest.mark.requirement("URS-A11-10", "URS-TX-001", category="boundary")
def test_the_relays_pass_applies_a_future_dated_request_only_once_its_date_has_come(
    plant: Plant, hub: Hub, clock: ManualClock
) -> None:
    when = clock.now() + timedelta(hours=1)
    code = _approve_later(plant, "spec_retirement", {"specification": "SPEC-A", "version": 2}, when)
    DueChanges(hub, RELAY_ACTOR, 60)()
    assert _state(hub, code) == "approved"
    clock.advance(minutes=59, seconds=59)
    DueChanges(hub, RELAY_ACTOR, 60)()
    assert _state(hub, code) == "approved"  # a second early: still not
    clock.advance(seconds=1)
    DueChanges(hub, RELAY_ACTOR, 0)()  # 0: never
    assert _state(hub, code) == "approved"
    DueChanges(hub, RELAY_ACTOR, 60)()
    with hub.uow_factory() as uow:
        found = uow.records.get(ChangeRequest, site=SITE, code=code)
        assert found is not None and (found.state.value, found.applied_at) == (
            "effective",
            clock.now(),
        )
    with hub.uow_factory() as uow:
        spec = uow.records.get(SpecVersion, site=SITE, specification="SPEC-A", version=2)
        assert spec is not None and spec.retired_at == when


@pytest.mark.requirement("URS-A11-10", "URS-TX-006", category="boundary")
def test_a_dated_status_map_maps_results_from_its_date_before_any_pass(
    plant: Plant, hub: Hub, clock: ManualClock
) -> None:
    sample = request_sample(plant, "DUE-1")
    when = clock.now() + timedelta(hours=1)
    code = _approve_later(plant, "status_map", {"rules": HELD_RULES}, when)
    before = approved_result(plant, sample, "ASSAY", "99.62", "%")
    assert _result_status(plant, sample, before) == "Accepted"  # the map in force until then
    clock.advance(hours=1)
    plant.tokens.clear()  # signed in again: the tokens' lifetime has passed
    after = approved_result(plant, sample, "WATER", "3.1", "mg/g")
    assert _result_status(plant, sample, after) == "Pending"  # its date: in force, no pass yet
    assert _state(hub, code) == "approved"
    applied = plant.call("qa", "POST", f"{CR}/apply-due")
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"applied": [code], "not_applied": []}
    assert _state(hub, code) == "effective"
    assert plant.call("qa", "POST", f"{CR}/apply-due").json() == {"applied": [], "not_applied": []}


@pytest.mark.requirement("URS-A11-10", category="failure_recovery")
def test_a_due_request_the_store_refuses_is_closed_as_not_applied_and_the_others_go_in_force(
    plant: Plant, hub: Hub, clock: ManualClock
) -> None:
    """Two requests retire the same version: the second, due later, finds it retired already.
    The pass closes that one as not applied (audited with the refusal's reason) instead of
    failing as a whole, and the method deprecation due with it still goes in force."""
    retire = {"specification": "SPEC-A", "version": 2}
    first = _approve_later(plant, "spec_retirement", retire, clock.now() + timedelta(hours=1))
    second = _approve_later(plant, "spec_retirement", retire, clock.now() + timedelta(hours=2))
    deprecate = _approve_later(plant, "method_deprecation",
                               {"method": "M-ASSAY", "version": "1"},
                               clock.now() + timedelta(hours=2))  # fmt: skip
    clock.advance(hours=3)
    plant.tokens.clear()  # signed in again: the tokens' lifetime has passed
    done = plant.call("qa", "POST", f"{CR}/apply-due")
    assert done.status_code == 200, done.text
    reason = "specification_version.invalid_transition"
    assert done.json() == {"applied": [first, deprecate],
                           "not_applied": [{"code": second, "reason": reason}]}  # fmt: skip
    states = (_state(hub, first), _state(hub, second), _state(hub, deprecate))
    assert states == ("effective", "not_applied", "effective")
    entries = plant.call(
        "auditor",
        "GET",
        "/api/v1/audit",
        params={"record_type": "change_request", "record_id": second},
    )
    closed = entries.json()["items"][-1]
    assert (closed["action"], closed["after"]["state"], closed["after"]["reason_code"]) == (
        "change_request.not_applied", "not_applied", reason)  # fmt: skip
    assert reason in closed["reason"]
    # Terminal: the next pass neither retries nor records it again.
    assert plant.call("qa", "POST", f"{CR}/apply-due").json() == {"applied": [], "not_applied": []}


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_the_api_due_pass_needs_qas_permission(plant: Plant) -> None:
    refused = plant.call("admin", "POST", f"{CR}/apply-due")
    assert refused.status_code == 403, refused.text


@pytest.mark.requirement("URS-A11-10", "URS-TX-001")
def test_labgate_change_apply_due_applies_what_the_system_clock_has_reached(
    plant: Plant, hub: Hub, clock: ManualClock, database_url: str
) -> None:
    # The test clock stands in 2026-11; the CLI's is the system clock, later than the first
    # date and years before the second.
    reached = _approve_later(plant, "spec_retirement", {"specification": "SPEC-A", "version": 2},
                        clock.now() + timedelta(minutes=5))  # fmt: skip
    future = _approve_later(plant, "method_deprecation", {"method": "M-ASSAY", "version": "1"},
                       datetime(2099, 1, 1, tzinfo=clock.now().tzinfo))  # fmt: skip
    env = {"LABGATE_DATABASE_URL": database_url, "LABGATE_TOKEN_SECRET": secrets.token_urlsafe(32)}
    done = CliRunner().invoke(app, ["change", "apply-due"], env=env)
    assert done.exit_code == 0, done.output
    assert f"in force: {SITE}/{reached}" in done.stdout and "applied 1 change" in done.stdout
    assert (_state(hub, reached), _state(hub, future)) == ("effective", "approved")
    again = CliRunner().invoke(app, ["change", "apply-due"], env=env)
    assert "applied 0 change" in again.stdout
