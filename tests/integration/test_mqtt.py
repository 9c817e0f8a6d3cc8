"""The MQTT channel against the real Mosquitto on 127.0.0.1:1883: QoS 1, persistent session,
acknowledged only after commit, so messages sent while labgate is away are not lost."""

from __future__ import annotations

import asyncio
import secrets

import aiomqtt
import pytest

from labgate.adapters.channels.mqtt import MqttInbox
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.service.inbox import Inbox, Receipt
from plant import Plant
from senders import Sender, consume_until, count, register, request


@pytest.fixture
def mes(hub: Hub, plant: Plant) -> Sender:
    return Sender(hub, "mes", "ipc", "mes-1", register(hub, "mes", "mes-1"))


async def publish(topic: str, bodies: list[bytes]) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"sender-{secrets.token_hex(3)}") as c:
        for body in bodies:
            await c.publish(topic, body, qos=1)


def test_messages_sent_while_labgate_is_away_arrive_once(hub: Hub, mes: Sender) -> None:
    tag = secrets.token_hex(4)
    topic, client_id = f"labgate/in/{tag}/ipc", f"labgate-test-{tag}"
    consumer = MqttInbox(hub.inbox, topic=f"labgate/in/{tag}/#", client_id=client_id)
    first = [request(mes, f"REQ-{n}") for n in range(1, 6)]
    later = [request(mes, f"REQ-{n}") for n in range(6, 11)]

    async def main() -> None:
        await publish(topic, first)  # nobody subscribed yet: this session does not exist
        await consume_until(consumer, lambda: True, seconds=1)  # creates the persistent session
        await publish(topic, first + later)  # labgate away: the broker keeps them (QoS 1)
        await consume_until(consumer, lambda: count(hub, t.samples) == 10, seconds=20)

    asyncio.run(main())
    assert count(hub, t.inbox_messages, status="applied") == 10
    assert count(hub, t.audit_entries, action="inbox.duplicate") == 0


class Unavailable(Inbox):
    """The real inbox, with its database away: every message fails."""

    def receive(self, raw: bytes, channel: str, caller: str | None = None) -> Receipt:
        raise RuntimeError("database unavailable")


def test_a_message_not_committed_is_not_acknowledged_and_comes_back(hub: Hub, mes: Sender) -> None:
    tag = secrets.token_hex(4)
    topic, client_id = f"labgate/in/{tag}/ipc", f"labgate-test-{tag}"
    down = Unavailable(hub.bus, hub.uow_factory, hub.inbox.replay_window, hub.inbox.hold_timeout)
    failing = MqttInbox(down, topic=f"labgate/in/{tag}/#", client_id=client_id)
    healthy = MqttInbox(hub.inbox, topic=f"labgate/in/{tag}/#", client_id=client_id)
    bodies = [request(mes, f"REQ-{n}") for n in range(1, 4)]

    async def failing_for(seconds: float) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(failing.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task

    async def main() -> None:
        await failing_for(0.5)  # creates the persistent session
        await publish(topic, bodies)
        await failing_for(2)  # receives all three, commits none, acknowledges none
        assert count(hub, t.samples) == 0
        await consume_until(healthy, lambda: count(hub, t.samples) == 3, seconds=20)

    asyncio.run(main())
    assert count(hub, t.inbox_messages, status="applied") == 3
