"""A channel allow-list under change control, through the API on SQLite and PostgreSQL: raised,
assessed (the partner stream that sent a type being removed is named), approved by QA with an
e-signature (never by its author), in force from its date in every process, and stated by the
next ICD version."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from fakes import ManualClock
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.service.change_allow_list import INBOUND_SCHEMAS
from plant import Plant, SeededPlant
from senders import Sender, register, request

CR = "/change-requests"
REMOVED = "labgate.sample_request.v1"
# REST keeps every inbound type but the sample request; the other channels are not named.
PROPOSAL = {"channels": {"rest": [s for s in INBOUND_SCHEMAS if s != REMOVED]}}


@pytest.fixture
def plant(seeded_plant: SeededPlant, client: TestClient) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def mes(hub: Hub, plant: Plant) -> Sender:
    return Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))


@pytest.fixture
def other(settings: Settings, clock: ManualClock, hub: Hub) -> Iterator[Hub]:
    """A second process on the same database (a worker beside the API), its own cache."""
    built = bootstrap(settings, clock=clock)
    yield built
    built.close()


def _over_rest(plant: Plant, raw: bytes) -> Response:
    headers = {"X-API-Key": plant.api_keys["mes"], "Content-Type": "application/json"}
    return plant.client.post("/api/v1/inbox", content=raw, headers=headers)


def _raise(plant: Plant, proposal: dict[str, Any], **extra: Any) -> Response:
    body = {"kind": "channel_allow_list", "title": "REST stops carrying sample requests",
            "reason": "Interface decision ID-12: sample requests come over AMQP only",
            "proposal": proposal, **extra}  # fmt: skip
    return plant.call("admin", "POST", CR, json=body)


def _icd_versions(plant: Plant) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = plant.call("auditor", "GET", "/icd").json()["versions"]
    return found


@pytest.mark.requirement("URS-A11-10", "URS-A11-5", "URS-TX-009", category="positive")
def test_an_allow_list_change_is_assessed_approved_and_refuses_the_type_from_its_date(
    plant: Plant, mes: Sender, clock: ManualClock, other: Hub
) -> None:
    assert plant.call("admin", "POST", "/icd").json()["version"] == 1
    assert _over_rest(plant, request(mes, "AL-1")).json()["status"] == "applied"
    # The other process reads the allow-list now (cached), before the change is approved.
    assert other.inbox.receive(request(mes, "AL-2"), "rest", caller="mes").status == "applied"

    when = clock.now() + timedelta(hours=1)
    raised = _raise(plant, PROPOSAL, effective_from=when.isoformat())
    assert raised.status_code == 201, raised.text
    code = raised.json()["code"]
    assessed = plant.call("admin", "POST", f"{CR}/{code}/assessment").json()["assessment"]
    assert assessed["channels"] == [{
        "channel": "rest", "added": [], "removed": [REMOVED], "restricted": True,
        "carries": PROPOSAL["channels"]["rest"],
    }]  # fmt: skip
    assert {"channel": "rest", "source": "mes", "stream": "requests",
            "schema": REMOVED} in assessed["streams"]  # fmt: skip
    assert assessed["partner_systems"] == ["mes"]
    assert assessed["message_types"]["inbound"] == [REMOVED]
    assert assessed["open_samples"] == [] and assessed["open_records_note"]
    assert {"URS-A11-5", "URS-A11-10"} <= {r["id"] for r in assessed["requirements"]}

    # Its author cannot approve it (integration_admin never holds QA's approval).
    refused = plant.call("admin", "POST", f"{CR}/{code}/approval",
                         json={"signature": plant.signature("admin")})  # fmt: skip
    assert refused.status_code == 403, refused.text
    approved = plant.call("qa", "POST", f"{CR}/{code}/approval",
                          json={"signature": plant.signature("qa")})  # fmt: skip
    assert approved.status_code == 200 and approved.json()["state"] == "approved"

    # Not yet its date: still carried, in this process and the other.
    assert _over_rest(plant, request(mes, "AL-3")).json()["status"] == "applied"
    assert other.inbox.receive(request(mes, "AL-4"), "rest", caller="mes").status == "applied"

    clock.advance(hours=2)  # no due pass has run: the inbox switches at the date on its own
    after = _over_rest(plant, request(mes, "AL-5"))
    assert (after.status_code, after.json()["reason"], after.json()["field"]) == (
        409 if after.status_code == 409 else 422, "channel.schema_not_allowed", "schema",
    )  # fmt: skip
    item = after.headers["X-Quarantine-Id"]
    held = plant.call("auditor", "GET", f"/api/v1/quarantine/{item}").json()
    assert (held["reason_code"], held["channel"]) == ("channel.schema_not_allowed", "rest")
    assert "version 1" in after.json()["detail"]
    with pytest.raises(Exception, match="does not carry"):
        other.inbox.receive(request(mes, "AL-6"), "rest", caller="mes")
    # Other channels are not named by the allow-list: they carry every type still.
    assert other.inbox.receive(request(mes, "AL-7"), "amqp", caller="mes").status == "applied"

    plant.tokens.clear()  # the people's sessions expired meanwhile: signed in again
    due = plant.call("qa", "POST", f"{CR}/apply-due")
    assert due.status_code == 200, due.text
    assert due.json()["applied"] == [code]
    assert plant.call("auditor", "GET", f"{CR}/{code}").json()["state"] == "effective"
    newest = _icd_versions(plant)[0]
    assert newest["version"] == 2
    channels = {c["channel"]: c for c in plant.call("auditor", "GET", "/icd/2").json()["channels"]}
    assert REMOVED not in channels["rest"]["carries"] and channels["rest"]["restricted"]
    assert channels["rest"]["allow_list"] == f"version 1 (change request {code})"
    assert REMOVED in channels["amqp"]["carries"] and not channels["amqp"]["restricted"]
    page = plant.call("auditor", "GET", "/icd/2", params={"format": "html"}).text
    assert f"Channel allow-list in force: version 1 (change request {code})" in page
    said = plant.call("auditor", "GET", "/icd/changes", params={"from": 1, "to": 2}).json()
    assert any(line.startswith("channels: rest") for line in said["changes"])


@pytest.mark.requirement("URS-A11-10", "URS-A11-5", category="negative")
@pytest.mark.parametrize(
    ("proposal", "field"),
    [
        ({"channels": {"smtp": []}}, "proposal.channels.smtp"),
        ({"channels": {"rest": ["labgate.result.v1", "labgate.result.v9"]}},
         "proposal.channels.rest[1]"),
        ({"channels": {"amqp": ["labgate.result"]}}, "proposal.channels.amqp[0]"),
        ({"channels": {"mqtt": ["labgate.result.v1", "labgate.result.v1"]}},
         "proposal.channels.mqtt[1]"),
        ({"channels": ["rest"]}, "proposal.channels"),
    ],
)  # fmt: skip
def test_an_unknown_channel_or_schema_is_refused_by_name_and_nothing_is_raised(
    plant: Plant, proposal: dict[str, Any], field: str
) -> None:
    refused = _raise(plant, proposal)
    body = refused.json()
    assert (refused.status_code, body["reason"], body["field"]) == (
        422, "change.invalid_proposal", field,
    )  # fmt: skip
    assert plant.call("auditor", "GET", CR).json()["items"] == []


@pytest.mark.requirement("URS-A11-10", category="boundary")
def test_nothing_changes_before_approval_a_new_sender_makes_it_stale_and_empty_closes(
    plant: Plant, mes: Sender
) -> None:
    code = _raise(plant, {"channels": {"rest": []}}).json()["code"]
    plant.call("admin", "POST", f"{CR}/{code}/assessment")
    assert _over_rest(plant, request(mes, "AL-1")).json()["status"] == "applied"  # not approved
    sign = {"signature": plant.signature("qa")}
    # A stream sent a type the change removes after it was assessed: the impact moved.
    stale = plant.call("qa", "POST", f"{CR}/{code}/approval", json=sign)
    assert (stale.status_code, stale.json()["reason"]) == (409, "change.assessment_stale")
    again = plant.call("admin", "POST", f"{CR}/{code}/assessment").json()["assessment"]
    assert again["partner_systems"] == ["mes"]
    approved = plant.call("qa", "POST", f"{CR}/{code}/approval", json=sign)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "effective"  # no date: in force from its approval
    closed = _over_rest(plant, request(mes, "AL-2"))
    assert closed.json()["reason"] == "channel.schema_not_allowed"
    assert "carries nothing" in closed.json()["detail"]
