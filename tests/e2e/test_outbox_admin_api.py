"""Dead letters through the REST API: listed and explained to readers, retried by an
administrator with a reason, audited; refused to those without the permission."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fakes import ManualClock
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.signer import Signer
from labgate.config import Settings
from labgate.entrypoints.api.routes.outbox_admin import router
from labgate.entrypoints.app import create_app
from labgate.service.outbox.relay import DeliveryFailed, Relay, RelayReport
from plant import Plant, SeededPlant
from receiver import outbox_rows, registered_samples

DEAD = "/api/v1/outbox/dead"
RETRY = "/api/v1/outbox/retry"


class Receivers:
    """A transport whose receivers refuse some message ids; records what it was given."""

    def __init__(self) -> None:
        self.refuse: set[str] = set()
        self.delivered: list[str] = []

    def deliver(self, destination: str, envelope: bytes, message_id: str) -> None:
        if message_id in self.refuse:
            raise DeliveryFailed("https://mes.example/hook answered HTTP 503: maintenance")
        self.delivered.append(message_id)


@pytest.fixture
def api(settings: Settings, hub: Hub) -> Iterator[TestClient]:
    app = create_app(settings, hub)
    app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def plant(hub: Hub, api: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(api)


@pytest.fixture
def receivers() -> Receivers:
    return Receivers()


@pytest.fixture
def relay(hub: Hub, clock: ManualClock, receivers: Receivers) -> Relay:
    store, signer = SqlOutboxStore(hub.sessions), Signer.generate("labgate-test-1")
    return Relay(store, {"mes": receivers}, clock, signer, max_attempts=2)


@pytest.fixture
def dead(plant: Plant, hub: Hub, clock: ManualClock, relay: Relay, receivers: Receivers) -> str:
    """Two messages owed to the MES: the first dead-lettered after two refusals."""
    registered_samples(plant, 2)
    first = outbox_rows(hub)[0]["message_id"]
    receivers.refuse.add(first)
    assert relay.run_once() == RelayReport(delivered=1, failed=1)
    clock.advance(seconds=2)
    assert relay.run_once() == RelayReport(dead=1)
    return str(first)


def problem(answer: Any) -> tuple[int, str]:
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    return answer.status_code, answer.json()["reason"]


def test_readers_see_dead_letters_and_every_attempt(plant: Plant, dead: str) -> None:
    listed = plant.call("auditor", "GET", DEAD, params={"limit": 10})
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert (page["total"], [m["message_id"] for m in page["items"]]) == (1, [dead])
    [item] = page["items"]
    assert (item["status"], item["attempts"], item["destination"]) == ("dead", 2, "mes")
    assert item["last_error"].endswith("HTTP 503: maintenance")
    assert plant.call("qa", "GET", DEAD, params={"destination": "lims"}).json()["total"] == 0

    answer = plant.call("mes", "GET", f"/api/v1/outbox/{dead}/attempts")
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert (view["message_id"], view["status"], view["message_type"]) == (
        dead,
        "dead",
        "sample_registration",
    )
    assert [(a["attempt"], a["outcome"]) for a in view["items"]] == [(1, "failed"), (2, "failed")]
    assert view["items"][1]["attempted_at"].endswith("Z")
    unknown = plant.call("auditor", "GET", "/api/v1/outbox/no-such-message/attempts")
    assert problem(unknown) == (404, "outbox.unknown")


def test_an_administrator_retries_with_a_reason_and_the_trail_shows_it(
    plant: Plant, dead: str, relay: Relay, receivers: Receivers
) -> None:
    body = {"message_ids": [dead], "reason": "CR-12: MES maintenance over"}
    receivers.refuse.clear()
    answer = plant.call("admin", "POST", RETRY, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["requeued"] == [dead]
    assert plant.call("auditor", "GET", DEAD).json()["total"] == 0
    assert relay.run_once() == RelayReport(delivered=1)
    assert receivers.delivered[-1] == dead

    trail = plant.call("auditor", "GET", "/api/v1/audit", params={"record_id": dead}).json()
    assert [(e["action"], e["actor"], e["reason"]) for e in trail["items"]] == [
        ("outbox.sealed", "labgate", None),  # its content hash, at commit
        ("outbox.dead_lettered", "labgate-relay", None),
        ("outbox.retry", "admin", "CR-12: MES maintenance over"),
    ]
    again = plant.call("admin", "POST", RETRY, json=body)
    assert problem(again) == (409, "lifecycle.invalid_transition")


def test_a_retry_needs_a_reason_and_known_dead_letters(plant: Plant, dead: str) -> None:
    cases = [
        ({"message_ids": [dead], "reason": ""}, 422, "input.string_too_short"),
        ({"message_ids": [dead], "reason": "  "}, 422, "outbox.reason_required"),
        ({"message_ids": [], "reason": "CR-12: MES back"}, 422, "input.too_short"),
        (
            {"message_ids": [dead, "no-such-message"], "reason": "CR-12: MES back"},
            404,
            "outbox.unknown",
        ),
    ]
    for body, status, reason in cases:
        assert problem(plant.call("admin", "POST", RETRY, json=body)) == (status, reason)
    assert plant.call("auditor", "GET", DEAD).json()["total"] == 1  # all or none


@pytest.mark.parametrize(
    ("user", "method", "path"),
    [
        ("production", "GET", DEAD),
        ("production", "GET", "/api/v1/outbox/{dead}/attempts"),
        ("production", "POST", RETRY),
        ("analyst", "GET", DEAD),
        ("auditor", "POST", RETRY),
        ("qa", "POST", RETRY),
        ("mes", "POST", RETRY),
    ],
)
def test_permissions_are_refused(
    plant: Plant, dead: str, user: str, method: str, path: str
) -> None:
    body = {"message_ids": [dead], "reason": "CR-12: MES back"} if method == "POST" else None
    answer = plant.call(user, method, path.format(dead=dead), json=body)
    assert problem(answer) == (403, "access.missing_permission")
    assert plant.call("auditor", "GET", DEAD).json()["total"] == 1


@pytest.mark.requirement("URS-P11-11.10d", category="negative")
def test_anonymous_callers_are_refused(api: TestClient, dead: str) -> None:
    assert problem(api.get(DEAD)) == (401, "auth.missing")
