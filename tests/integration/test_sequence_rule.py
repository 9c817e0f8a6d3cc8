"""One rule for every channel (REST, AMQP, MQTT, file packs), against the real peers: a message
refused before the inbox (it could not be authenticated or checked) leaves its sequence number
free, and the sender sends that number again; a message taken in and refused by its use case
uses its number, and the sender goes on. Either way the next message is applied at once. And the
inbox and the sequence, not the replay window, judge a late message: a verbatim re-send after
the window is a duplicate, an hour of messages buffered by a sender through an outage is applied
in order."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from sqlalchemy import select

from fakes import ManualClock
from labgate.adapters.channels.amqp import AmqpInbox
from labgate.adapters.channels.mqtt import MqttInbox
from labgate.adapters.channels.pack_pickup import PackPickup
from labgate.adapters.channels.packstore import FolderPackStore
from labgate.adapters.codecs.filepack import csv_bytes
from labgate.adapters.connectors.partner.channels import AmqpChannel, MqttChannel
from labgate.adapters.connectors.partner.dispatch import StoreAndForward
from labgate.adapters.connectors.partner.outgoing import Outgoing
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from packs import PackSender, registered_lims, repack, result
from plant import SITE, Plant
from senders import Sender, consume_until, count, forget_mqtt_session, register, request
from streams import publish, vhost

Message = tuple[str, bytes]  # a pack's file name (or "" for an envelope) and its bytes
Done = Callable[[], bool]


@dataclass
class Way:
    """A channel into labgate and a partner speaking over it: `deliver` hands messages over, in
    order, and returns once `done` holds (at once for REST and packs, which answer in turn)."""

    name: str
    good: Callable[..., Message]  # (sequence, test, value, **more members of the result)
    damaged: Callable[[Message], Message]  # a copy that cannot be authenticated
    damaged_reason: str
    deliver: Callable[[list[Message], Done], None]


def envelope_partner(hub: Hub, packs: PackSender) -> tuple[Callable[..., Message], Any]:
    lims = Sender(hub, "lims", "results", "lims-1", packs.private)

    def good(sequence: int, test: str, value: str, **extra: str) -> Message:
        payload = result("S-000001", value, test, **extra)
        payload = {k: v for k, v in payload.items() if v is not None}
        return "", lims.envelope("labgate.result.v1", payload, sequence=sequence)

    def damaged(message: Message) -> Message:
        document = json.loads(message[1])
        document["payload"]["value"] += "9"  # changed after signing
        return "", json.dumps(document).encode()

    return good, damaged


@pytest.fixture(params=["rest", "amqp", "mqtt", "packs"])
def way(request: pytest.FixtureRequest, hub: Hub, plant: Plant, tmp_path: Path) -> Iterator[Way]:
    packs = registered_lims(hub)  # S-000001 and S-000002 requested and registered
    good, damaged = envelope_partner(hub, packs)
    if request.param == "rest":

        def post(messages: list[Message], done: Done) -> None:
            headers = {"X-API-Key": plant.api_keys["lims"], "Content-Type": "application/json"}
            for _, raw in messages:
                plant.client.post("/api/v1/inbox", content=raw, headers=headers)
            assert done()

        yield Way("rest", good, damaged, "envelope.bad_signature", post)
    elif request.param == "amqp":
        with vhost() as url:

            def publish_and_consume(messages: list[Message], done: Done) -> None:
                publish(url, [raw for _, raw in messages])
                asyncio.run(consume_until(AmqpInbox(url, hub.inbox), done, seconds=30))

            yield Way("amqp", good, damaged, "envelope.bad_signature", publish_and_consume)
    elif request.param == "mqtt":
        tag = secrets.token_hex(4)
        worker = MqttInbox(hub.inbox, SITE, ("lims",), client_id=f"labgate-test-{tag}",
                           prefix=f"labgate-test-{tag}")  # fmt: skip
        asyncio.run(consume_until(worker, lambda: True, seconds=2))  # the persistent session
        try:

            def over_mqtt(messages: list[Message], done: Done) -> None:
                topic = f"labgate-test-{tag}/{SITE}/lims/in"
                asyncio.run(_mqtt(topic, [raw for _, raw in messages]))
                asyncio.run(consume_until(worker, done, seconds=30))

            yield Way("mqtt", good, damaged, "envelope.bad_signature", over_mqtt)
        finally:
            forget_mqtt_session(f"labgate-test-{tag}")
    else:
        store = FolderPackStore(tmp_path / "exchange")

        def pack(sequence: int, test: str, value: str, **extra: str) -> Message:
            return packs.pack([result("S-000001", value, test, **extra)], sequence=sequence)

        def forged(message: Message) -> Message:
            rows = [result("S-000001", "12.3")]
            return message[0], repack(message[1], {"results.csv": csv_bytes(rows)})

        def drop(messages: list[Message], done: Done) -> None:
            async def go() -> None:
                await store.prepare()
                for name, data in messages:
                    await store.put(name, data)
                    await PackPickup(store, hub.inbox).run_once()

            asyncio.run(go())
            assert done()

        yield Way("packs", pack, forged, "pack.checksum_mismatch", drop)


async def _mqtt(topic: str, bodies: list[bytes]) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"s-{secrets.token_hex(3)}") as c:
        for body in bodies:
            await c.publish(topic, body, qos=1)


def statuses(hub: Hub) -> dict[int, str]:
    """The LIMS's result stream in the inbox: sequence → status."""
    m = t.inbox_messages.c
    query = select(m.sequence, m.status).where(m.source == "lims", m.stream == "results")
    with hub.engine.connect() as connection:
        return {int(n): str(s) for n, s in connection.execute(query)}


def reasons(hub: Hub) -> list[str]:
    with hub.engine.connect() as connection:
        query = select(t.quarantine.c.reason_code).order_by(t.quarantine.c.id)
        return list(connection.scalars(query))


def test_a_refusal_before_the_inbox_leaves_the_number_free_for_the_corrected_message(
    way: Way, hub: Hub
) -> None:
    first, second = way.good(1, "ASSAY", "99.1"), way.good(2, "WATER", "0.2")
    way.deliver([way.damaged(first)], lambda: reasons(hub) == [way.damaged_reason])
    assert statuses(hub) == {}  # not taken in: number 1 is still free
    way.deliver([first, second], lambda: statuses(hub) == {1: "applied", 2: "applied"})
    assert reasons(hub) == [way.damaged_reason]


CONTENT = {  # authenticated, then refused for what it says
    "test.unknown": ("KF-H2O", {}),  # by its use case: a test labgate does not know
    "envelope.schema_violation": ("ASSAY", {"instrument": "HPLC-7"}),  # a member too many
}


@pytest.mark.parametrize("reason", sorted(CONTENT))
def test_a_refusal_of_the_content_uses_the_number_and_the_next_message_goes_on_at_once(
    way: Way, hub: Hub, reason: str
) -> None:
    way.deliver([way.good(1, "ASSAY", "99.1")], lambda: statuses(hub) == {1: "applied"})
    way.deliver([way.good(3, "WATER", "0.2")], lambda: statuses(hub).get(3) == "held")
    # Number 2 is taken in and refused: 3 need not wait for it, nor the sender send 2 again.
    test, extra = CONTENT[reason]
    way.deliver(
        [way.good(2, test, "0.3", **extra)],
        lambda: statuses(hub) == {1: "applied", 2: "quarantined", 3: "applied"},
    )
    assert reasons(hub) == [reason]


def test_a_verbatim_resend_after_the_replay_window_is_a_duplicate(
    way: Way, hub: Hub, clock: ManualClock
) -> None:
    first = way.good(1, "ASSAY", "99.1")
    way.deliver([first], lambda: statuses(hub) == {1: "applied"})
    clock.advance(seconds=hub.settings.replay_window_seconds + 300)
    way.deliver([first], lambda: count(hub, t.audit_entries, action="inbox.duplicate") == 1)
    assert (reasons(hub), count(hub, t.results)) == ([], 1)


@pytest.mark.requirement("URS-A11-16", category="failure_recovery")
@pytest.mark.parametrize("channel", ["amqp", "mqtt"])
def test_an_hour_buffered_by_the_sender_through_an_outage_is_applied_in_order(
    hub: Hub, plant: Plant, clock: ManualClock, channel: str
) -> None:
    mes = Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))
    tag = secrets.token_hex(4)
    with vhost() as url:
        prefix = f"labgate-test-{tag}"
        if channel == "amqp":
            consumer: Any = AmqpInbox(url, hub.inbox)
        else:
            consumer = MqttInbox(hub.inbox, SITE, ("mes",), client_id=prefix, prefix=prefix)
            asyncio.run(consume_until(consumer, lambda: True, seconds=2))  # its session

        def sender_side() -> StoreAndForward:  # made in the running loop, as aiomqtt needs
            if channel == "amqp":
                return StoreAndForward(AmqpChannel(url))
            return StoreAndForward(MqttChannel("127.0.0.1", 1883, f"sender-{tag}", prefix))

        async def outage() -> None:
            link = sender_side()
            link.link_down()
            for n in range(1, 7):  # one request every ten minutes, signed when made
                raw = request(mes, f"REQ-{n}")
                assert (await link.send(Outgoing(json.loads(raw)))).status == "buffered"
                clock.advance(minutes=10)
            forwarded = await link.forward()  # the link is back an hour later
            assert {o.status for o in forwarded} == {"published"}
            await link.close()
            await consume_until(consumer, lambda: count(hub, t.samples) == 6, seconds=30)

        try:
            asyncio.run(outage())
        finally:
            if channel == "mqtt":
                forget_mqtt_session(f"labgate-test-{tag}")
    with hub.engine.connect() as connection:
        made = connection.execute(
            select(t.samples.c.code, t.samples.c.mes_request_id).order_by(t.samples.c.id)
        ).all()
    assert [tuple(r) for r in made] == [(f"S-{n:06d}", f"REQ-{n}") for n in range(1, 7)]
    assert reasons(hub) == []
