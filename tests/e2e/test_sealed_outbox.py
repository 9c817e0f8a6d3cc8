"""Outbox rows are sealed at commit: a row changed afterwards (behind labgate's back) is never
signed nor sent; the relay holds it with a reason code, audits it, and the outbox admin API
shows it; no retry sends it. On SQLite and PostgreSQL, with a real HTTP receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from fakes import ManualClock
from labgate.adapters.channels.webhook import WebhookTransport
from labgate.adapters.store import tables as t
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.signer import Signer
from labgate.config import Settings
from labgate.entrypoints.api.routes.outbox_admin import router
from labgate.entrypoints.app import create_app
from labgate.entrypoints.cli.relay import relay_app
from labgate.service.outbox.records import content_hash
from labgate.service.outbox.relay import Relay, RelayReport
from plant import Plant, SeededPlant
from receiver import Receiver, attempt_rows, outbox_rows, registered_samples, verified

HELD = "/api/v1/outbox/held"
OUT = t.outbox.c


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
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def signer() -> Signer:
    return Signer.generate("labgate-test-1")


@pytest.fixture
def relay(hub: Hub, clock: ManualClock, receiver: Receiver, signer: Signer) -> Iterator[Relay]:
    with WebhookTransport({"mes": receiver.url("/mes")}, timeout_s=2) as transport:
        yield Relay(SqlOutboxStore(hub.sessions), {"mes": transport}, clock, signer)


def trail_of(plant: Plant, message_id: str) -> list[dict[str, Any]]:
    answer = plant.call("auditor", "GET", "/api/v1/audit", params={"record_id": message_id})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def behind_the_back(hub: Hub, row_id: int, **values: Any) -> None:
    """Change a committed row as an intruder with the owner's rights would: guard dropped."""
    with hub.sessions.begin() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("DROP TRIGGER outbox_content_no_update"))
        else:
            session.execute(text("ALTER TABLE outbox DISABLE TRIGGER outbox_content_no_update"))
        session.execute(update(t.outbox).where(OUT.id == row_id).values(**values))


def test_the_database_refuses_to_change_a_committed_message(plant: Plant, hub: Hub) -> None:
    registered_samples(plant, 1)
    [row] = outbox_rows(hub)
    for change in ({"payload": {}}, {"sequence": 7}, {"seal_seq": None}, {"message_id": "x"}):
        with pytest.raises(DBAPIError, match="append-only"), hub.sessions.begin() as session:
            session.execute(update(t.outbox).where(OUT.id == row["id"]).values(**change))
    assert outbox_rows(hub) == [row]


def test_each_row_is_sealed_by_an_audit_entry_of_its_own_commit(plant: Plant, hub: Hub) -> None:
    registered_samples(plant, 2)
    for row in outbox_rows(hub):
        [sealed] = trail_of(plant, row["message_id"])
        assert (sealed["seq"], sealed["action"], sealed["actor"]) == (
            row["seal_seq"],
            "outbox.sealed",
            "labgate",
        )
        fields = ("site", "destination", "schema", "message_id", "correlation_id", "sequence")
        assert sealed["payload_hash"] == content_hash(*(row[f] for f in fields), row["payload"])


def test_a_payload_edited_after_commit_is_held_not_sent(
    plant: Plant, hub: Hub, relay: Relay, receiver: Receiver, signer: Signer
) -> None:
    registered_samples(plant, 2)
    edited, fine = outbox_rows(hub)
    changed = {**edited["payload"], "lims_sample_id": "L-FORGED"}
    behind_the_back(hub, edited["id"], payload=changed)

    assert relay.run_once() == RelayReport(delivered=1, held=1)

    assert receiver.keys() == [fine["message_id"]]  # the edited row never left
    assert verified(receiver.requests[0].body, signer).message_id == fine["message_id"]
    row = next(r for r in outbox_rows(hub) if r["id"] == edited["id"])
    assert row["status"] == "held"
    assert row["last_error"].endswith("so it is held, not sent. [outbox.seal_broken]")
    [attempt] = [a for a in attempt_rows(hub) if a["outbox_id"] == edited["id"]]
    assert attempt["outcome"] == "held"

    sealed, held = trail_of(plant, edited["message_id"])
    assert (sealed["action"], held["action"], held["actor"]) == (
        "outbox.sealed",
        "outbox.held",
        "labgate-relay",
    )
    assert held["after"]["status"] == "held"
    assert held["after"]["seal"] == sealed["payload_hash"]
    assert "[outbox.seal_broken]" in held["after"]["last_error"]

    listed = plant.call("auditor", "GET", HELD)
    assert listed.status_code == 200, listed.text
    assert [m["message_id"] for m in listed.json()["items"]] == [edited["message_id"]]
    state = plant.call("auditor", "GET", f"/api/v1/outbox/{edited['message_id']}/attempts")
    assert state.json()["status"] == "held"
    assert "no longer matches the seal recorded" in state.json()["last_error"]

    body = {"message_ids": [edited["message_id"]], "reason": "CR-77: the MES asked again"}
    refused = plant.call("admin", "POST", "/api/v1/outbox/retry", json=body)
    assert refused.status_code == 409, refused.text
    assert refused.json()["reason"] == "outbox.seal_broken"
    assert relay.run_once() == RelayReport()  # and it never goes out later
    assert receiver.keys() == [fine["message_id"]]


def test_a_row_whose_seal_was_unhooked_is_held(
    plant: Plant, hub: Hub, relay: Relay, receiver: Receiver
) -> None:
    registered_samples(plant, 1)
    [row] = outbox_rows(hub)
    behind_the_back(hub, row["id"], seal_seq=None)
    assert relay.run_once() == RelayReport(held=1)
    assert receiver.requests == []
    [held] = [e for e in trail_of(plant, row["message_id"]) if e["action"] == "outbox.held"]
    assert "[outbox.seal_missing]" in held["after"]["last_error"]


def test_the_relay_command_holds_an_edited_row_and_signs_a_checkpoint(
    plant: Plant,
    hub: Hub,
    receiver: Receiver,
    signer: Signer,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    registered_samples(plant, 2)
    edited, fine = outbox_rows(hub)
    behind_the_back(hub, edited["id"], sequence=99)
    key = tmp_path / "labgate.private.jwk.json"
    key.write_text(json.dumps({**signer.private_jwk, "kid": signer.kid}), encoding="utf-8")
    for name, value in (("DATABASE_URL", settings.database_url), ("SIGNING_KEY_FILE", str(key)),
                        ("MES_WEBHOOK_URL", receiver.url("/mes"))):  # fmt: skip
        monkeypatch.setenv(f"LABGATE_{name}", value)
    monkeypatch.delenv("LABGATE_DEMO", raising=False)

    result = CliRunner().invoke(relay_app, ["run", "--once"])

    assert result.exit_code == 0, result.output
    assert "delivered 1, failed 0, dead-lettered 0, held 1 (changed after commit)" in result.output
    assert receiver.keys() == [fine["message_id"]]
    with hub.sessions() as session:
        head = session.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)).one()
        checkpoints = session.execute(select(t.audit_checkpoints)).mappings().all()
    assert [(c["seq"], c["hash"], c["kid"]) for c in checkpoints] == [(*head, signer.kid)]
