"""`labgate relay run` on PostgreSQL is woken across processes: a relay process polling only every
minute delivers, within seconds, what this test's process commits (the commit NOTIFYs, the relay
LISTENs). Its LISTEN connection killed by the server, it says so, connects again and still
delivers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from hubproc import LABGATE, PG_ADMIN, Proc
from labgate.adapters.store.outbox_listen import APPLICATION_NAME
from labgate.bootstrap import Hub
from labgate.compliance.signer import Signer
from labgate.config import Settings
from plant import Plant, SeededPlant
from polling import soon
from receiver import Receiver, outbox_rows, registered_samples

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]
POLL = "60"  # seconds: far longer than WOKEN, so only a wake delivers within it
WOKEN = 10.0  # seconds: a generous bound for a woken relay on a busy machine
LISTENING = "listening on labgate_outbox"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def plant(client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def relay(settings: Settings, receiver: Receiver, tmp_path: Path) -> Iterator[Proc]:
    """`labgate relay run --interval 60` in a process of its own, to the receiver."""
    signer = Signer.generate("labgate-listen-1")
    key = tmp_path / "labgate.private.jwk.json"
    key.write_text(json.dumps({**signer.private_jwk, "kid": signer.kid}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABGATE_")}
    env |= {"LABGATE_DATABASE_URL": settings.database_url,
            "LABGATE_SIGNING_KEY_FILE": str(key),
            "LABGATE_MES_WEBHOOK_URL": receiver.url("/mes")}  # fmt: skip
    log = tmp_path / "relay.log"
    with log.open("wb") as out:
        process = subprocess.Popen([LABGATE, "relay", "run", "--interval", POLL], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    proc = Proc("relay", process, log)
    try:
        yield proc
    finally:
        assert proc.stop(signal.SIGTERM) == 0, proc.output()
    assert "relay stopped" in proc.output()


def delivered_all(hub: Hub, receiver: Receiver) -> bool:
    return len(receiver.requests) == len(outbox_rows(hub))


def started(relay: Proc, hub: Hub, plant: Plant, receiver: Receiver) -> None:
    """Until the relay has made its first pass (what was owed before it started is delivered)
    and listens."""
    registered_samples(plant, 1, "REQ-BEFORE")
    relay.wait_for(LISTENING, 60)
    assert soon(lambda: delivered_all(hub, receiver), 60), relay.output()
    assert "polling every 60 s" in relay.output()


def test_a_commit_in_another_process_wakes_the_relay(
    relay: Proc, hub: Hub, plant: Plant, receiver: Receiver
) -> None:
    started(relay, hub, plant, receiver)

    registered_samples(plant, 2, "REQ-WAKE")  # committed here, another process than the relay's

    assert soon(lambda: delivered_all(hub, receiver), WOKEN), f"not woken:\n{relay.output()}"
    assert receiver.keys() == [row["message_id"] for row in outbox_rows(hub)]


def test_a_lost_listen_connection_is_logged_remade_and_the_relay_still_delivers(
    relay: Proc, hub: Hub, plant: Plant, receiver: Receiver, settings: Settings
) -> None:
    started(relay, hub, plant, receiver)
    database = make_url(settings.database_url).database

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = %s",
            (APPLICATION_NAME, database),
        ).fetchall()
    assert killed == [(True,)]
    registered_samples(plant, 2, "REQ-LOST")  # while the listener is down, or just back

    assert soon(lambda: delivered_all(hub, receiver), WOKEN), relay.output()
    relay.wait_for("LISTEN labgate_outbox: connection lost", WOKEN)
    assert soon(lambda: relay.output().count(LISTENING) == 2, WOKEN), relay.output()
    assert relay.alive

    registered_samples(plant, 1, "REQ-AGAIN")  # woken through the new connection
    assert soon(lambda: delivered_all(hub, receiver), WOKEN), relay.output()
