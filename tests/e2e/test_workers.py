"""`labgate worker amqp|mqtt` as a separate process: it consumes real brokers into the inbox
and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import aiomqtt
import pytest
from fastapi.testclient import TestClient

from labgate.adapters.channels.amqp import Topology, declare
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from plant import SITE, Plant, SeededPlant
from senders import AMQP_URL, Sender, count, forget_mqtt_session, register, request
from streams import vhost

LABGATE = str(Path(sys.executable).parent / "labgate")


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def start(kind: str, hub: Hub, **settings: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LABGATE_DATABASE_URL": hub.settings.database_url,
        "LABGATE_AMQP_URL": AMQP_URL,
        **settings,
    }
    return subprocess.Popen(
        [LABGATE, "worker", kind],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for(done: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not apply the message in time")


def stop(worker: subprocess.Popen[str]) -> str:
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    return output


def test_the_amqp_worker_applies_what_the_broker_delivers(hub: Hub, plant: Plant) -> None:
    mes = Sender(hub, "mes", "worker-amqp", "mes-1", register(hub, "mes", "mes-1"))
    with vhost() as url:  # a vhost of its own: nothing left from other runs on the broker
        worker = start("amqp", hub, LABGATE_AMQP_URL=url)
        try:
            asyncio.run(send(url, mes))
            wait_for(lambda: count(hub, t.samples, mes_request_id="REQ-W1") == 1)
        finally:
            output = stop(worker)
    assert "consuming" in output


async def send(url: str, mes: Sender) -> None:
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare(channel, Topology())  # idempotent: the worker may not be up yet
        exchange = await channel.get_exchange("labgate.in")
        body = request(mes, "REQ-W1", sent_at=datetime.now(UTC))  # the worker's time
        await exchange.publish(aio_pika.Message(body, delivery_mode=2), "labgate.inbox")


def test_the_mqtt_worker_applies_what_the_broker_delivers(hub: Hub, plant: Plant) -> None:
    mes = Sender(hub, "mes", "worker-mqtt", "mes-1", register(hub, "mes", "mes-1"))
    # A topic and session of this run's own (the settings a plant would set per worker), so
    # nothing left on the machine's shared Mosquitto by other runs reaches this worker.
    tag = secrets.token_hex(4)
    client_id = f"labgate-inbox-{tag}"
    forget_mqtt_session(client_id)
    prefix = f"labgate-test-{tag}"
    worker = start("mqtt", hub, LABGATE_MQTT_TOPIC_PREFIX=prefix, LABGATE_MQTT_SITE=SITE,
                   LABGATE_MQTT_SOURCES='["mes"]', LABGATE_MQTT_CLIENT_ID=client_id)  # fmt: skip
    try:
        body = request(mes, "REQ-M1", sent_at=datetime.now(UTC))

        async def send() -> None:
            async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"sender-{tag}") as c:
                await c.publish(f"{prefix}/{SITE}/mes/in", body, qos=1)

        # At least once, as an edge device does: until the worker (starting up) has subscribed,
        # the broker has no one to give it to; a repeat after that is a duplicate, nothing more.
        deadline = time.monotonic() + 60
        while count(hub, t.samples, mes_request_id="REQ-M1") == 0:
            assert time.monotonic() < deadline, "the worker did not apply the message in time"
            asyncio.run(send())
            time.sleep(1)
        assert count(hub, t.samples, mes_request_id="REQ-M1") == 1
    finally:
        output = stop(worker)
        forget_mqtt_session(client_id)  # the repeats the worker did not take stay with it
    assert f"subscribed to 127.0.0.1:1883 {prefix}/{SITE}/mes/in" in output


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({}, "LABGATE_MQTT_SITE"),
        (
            {
                "LABGATE_MQTT_SITE": "T1",
                "LABGATE_MQTT_SOURCES": '["mes"]',
                "LABGATE_MQTT_TOPIC": "labgate/in/#",
            },
            "LABGATE_MQTT_TOPIC",
        ),  # the old, wide filter
        ({"LABGATE_MQTT_SITE": "T1", "LABGATE_MQTT_SOURCES": '["a/b"]'}, "source 'a/b'"),
    ],
    ids=["no site", "old topic setting", "bad source"],
)
def test_the_mqtt_worker_refuses_to_start_without_its_own_partners(
    hub: Hub, given: dict[str, str], named: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABGATE_MQTT")}
    env |= {"LABGATE_DATABASE_URL": hub.settings.database_url, **given}
    done = subprocess.run([LABGATE, "worker", "mqtt"], env=env, text=True, capture_output=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert named in done.stdout + done.stderr


def test_the_amqp_worker_needs_its_url(hub: Hub) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LABGATE_AMQP_URL"}
    env["LABGATE_DATABASE_URL"] = hub.settings.database_url
    done = subprocess.run([LABGATE, "worker", "amqp"], env=env, text=True, capture_output=True)
    assert done.returncode == 2
    assert "LABGATE_AMQP_URL" in done.stdout + done.stderr


def test_the_amqp_worker_names_the_fix_for_a_queue_an_earlier_labgate_declared(hub: Hub) -> None:
    async def declare_as_before(url: str) -> None:  # the arguments labgate declared until now
        connection = await aio_pika.connect_robust(url)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue("labgate.inbox", durable=True, arguments={
                "x-queue-type": "quorum", "x-dead-letter-exchange": "labgate.dlx",
                "x-delivery-limit": 5})  # fmt: skip

    with vhost() as url:
        asyncio.run(declare_as_before(url))
        worker = start("amqp", hub, LABGATE_AMQP_URL=url)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 2, output
    assert "labgate.inbox" in output and "single active consumer" in output
    assert "rabbitmqctl delete_queue labgate.inbox" in output
    assert "Traceback" not in output
