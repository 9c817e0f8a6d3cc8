"""`labgate relay` from the command line, against a real HTTP receiver: one pass delivers what is
owed, signed with the key in LABGATE_SIGNING_KEY_FILE; without a key or a URL it refuses."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from labgate.bootstrap import Hub
from labgate.compliance.signer import Signer
from labgate.config import Settings
from labgate.entrypoints.cli.relay import relay_app
from plant import seed
from receiver import Receiver, outbox_rows, registered_samples, verified
from senders import AMQP_URL

runner = CliRunner()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[Path, Signer]:
    signer = Signer.generate("labgate-2026-1")
    path = tmp_path / "labgate.private.jwk.json"
    path.write_text(json.dumps({**signer.private_jwk, "kid": signer.kid}), encoding="utf-8")
    return path, signer


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> pytest.MonkeyPatch:
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    for name in ("LABGATE_DEMO", "LABGATE_SIGNING_KEY_FILE", "LABGATE_LIMS_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_one_pass_delivers_signed_envelopes(
    hub: Hub,
    client: TestClient,
    receiver: Receiver,
    key_file: tuple[Path, Signer],
    env: pytest.MonkeyPatch,
) -> None:
    registered_samples(seed(hub, client), 2)
    path, signer = key_file
    env.setenv("LABGATE_SIGNING_KEY_FILE", str(path))
    env.setenv("LABGATE_MES_WEBHOOK_URL", receiver.url("/mes"))

    result = runner.invoke(relay_app, ["run", "--once"])

    assert result.exit_code == 0, result.output
    assert "delivered 2, failed 0, dead-lettered 0" in result.output
    rows = outbox_rows(hub)
    assert receiver.keys() == [r["message_id"] for r in rows]
    assert [verified(r.body, signer).sequence for r in receiver.requests] == [r["id"] for r in rows]
    shown = runner.invoke(relay_app, ["public-key"])
    assert json.loads(shown.stdout) == {**signer.public_jwk, "kid": "labgate-2026-1"}


def test_without_a_signing_key_or_a_url_the_relay_refuses(
    receiver: Receiver, key_file: tuple[Path, Signer], env: pytest.MonkeyPatch
) -> None:
    env.setenv("LABGATE_MES_WEBHOOK_URL", receiver.url())
    no_key = runner.invoke(relay_app, ["run", "--once"])
    assert no_key.exit_code == 2
    assert "Set LABGATE_SIGNING_KEY_FILE" in no_key.output

    env.setenv("LABGATE_SIGNING_KEY_FILE", str(key_file[0]))
    env.delenv("LABGATE_MES_WEBHOOK_URL")
    no_url = runner.invoke(relay_app, ["run", "--once"])
    assert no_url.exit_code == 2
    assert "the relay has nowhere to send" in no_url.output
    assert receiver.requests == []


@pytest.fixture
def vhost() -> Iterator[str]:
    """A RabbitMQ virtual host of the test's own, removed afterwards."""
    name = f"lg-relay-{secrets.token_hex(4)}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)  # fmt: skip
    yield AMQP_URL.rstrip("/") + "/" + name
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False, capture_output=True)


def test_one_pass_over_rabbitmq_publishes_to_the_mes_queue(
    hub: Hub,
    client: TestClient,
    key_file: tuple[Path, Signer],
    env: pytest.MonkeyPatch,
    vhost: str,
) -> None:
    registered_samples(seed(hub, client), 2)
    path, signer = key_file
    env.setenv("LABGATE_SIGNING_KEY_FILE", str(path))
    env.setenv("LABGATE_MES_TRANSPORT", "amqp")
    env.setenv("LABGATE_AMQP_URL", vhost)

    result = runner.invoke(relay_app, ["run", "--once"])

    assert result.exit_code == 0, result.output
    assert "delivered 2, failed 0, dead-lettered 0" in result.output

    async def drain() -> list[bytes]:
        connection = await aio_pika.connect_robust(vhost)
        async with connection:
            queue = await (await connection.channel()).get_queue("labgate.out.mes")
            bodies = []
            while (message := await queue.get(fail=False)) is not None:
                await message.ack()
                bodies.append(message.body)
            return bodies

    rows = outbox_rows(hub)
    taken = [verified(body, signer) for body in asyncio.run(drain())]
    assert [e.message_id for e in taken] == [r["message_id"] for r in rows]


def test_sigterm_stops_the_running_relay_cleanly(
    hub: Hub, client: TestClient, receiver: Receiver, key_file: tuple[Path, Signer],
    settings: Settings,
) -> None:  # fmt: skip
    registered_samples(seed(hub, client), 1)
    env = {**os.environ, "LABGATE_DATABASE_URL": settings.database_url,
           "LABGATE_SIGNING_KEY_FILE": str(key_file[0]),
           "LABGATE_MES_WEBHOOK_URL": receiver.url("/mes")}  # fmt: skip
    relay = subprocess.Popen([str(Path(sys.executable).parent / "labgate"), "relay", "run",
                              "--interval", "0.2"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not receiver.requests:
            assert time.monotonic() < deadline and relay.poll() is None, "nothing delivered"
            time.sleep(0.1)
    finally:
        relay.send_signal(signal.SIGTERM)
        output, _ = relay.communicate(timeout=30)
    assert relay.returncode == 0, output
    assert "relay stopped" in output


def test_a_pass_that_fills_its_batch_says_it_stopped_at_the_limit(
    hub: Hub,
    client: TestClient,
    receiver: Receiver,
    key_file: tuple[Path, Signer],
    env: pytest.MonkeyPatch,
) -> None:
    registered_samples(seed(hub, client), 3)
    env.setenv("LABGATE_SIGNING_KEY_FILE", str(key_file[0]))
    env.setenv("LABGATE_MES_WEBHOOK_URL", receiver.url("/mes"))

    first = runner.invoke(relay_app, ["run", "--once", "--batch", "2"])
    assert first.exit_code == 0, first.output
    assert "delivered 2, failed 0, dead-lettered 0; stopped at the batch limit for mes" in (
        first.output
    )
    rest = runner.invoke(relay_app, ["run", "--once", "--batch", "2"])
    assert rest.exit_code == 0, rest.output
    assert "delivered 1, failed 0, dead-lettered 0\n" in rest.output
    assert "batch limit" not in rest.output
    assert len(receiver.requests) == 3


def test_demo_mode_keeps_one_relay_key_in_var_and_public_key_prints_it(
    hub: Hub,
    client: TestClient,
    receiver: Receiver,
    env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    registered_samples(seed(hub, client), 1)
    env.chdir(tmp_path)
    env.setenv("LABGATE_DEMO", "1")
    env.setenv("LABGATE_MES_WEBHOOK_URL", receiver.url("/mes"))

    shown = runner.invoke(relay_app, ["public-key"])
    assert shown.exit_code == 0, shown.output
    published = json.loads(shown.stdout)
    kept = tmp_path / "var" / "labgate-demo.private.jwk.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert runner.invoke(relay_app, ["run", "--once"]).exit_code == 0
    again = runner.invoke(relay_app, ["public-key"])
    assert json.loads(again.stdout) == published  # the same key on every run
    signer = Signer.from_file(kept)
    assert published == {**signer.public_jwk, "kid": "labgate-demo"}
    assert verified(receiver.requests[0].body, signer).schema  # signed with that key
