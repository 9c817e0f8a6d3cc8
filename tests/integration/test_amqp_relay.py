"""The relay over RabbitMQ (127.0.0.1:5672): envelopes owed to the MES are published to a durable
quorum queue with publisher confirms, in order, keyed by message id; an unroutable message or an
unreachable broker is a failed attempt, retried later, never a lost one."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import aio_pika
import pytest

from fakes import ManualClock
from labgate.adapters.channels.amqp import Topology
from labgate.adapters.channels.amqp_relay import AmqpTransport, outbound_queue
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.signer import Signer
from labgate.service.outbox.relay import Relay, RelayReport
from plant import Plant
from receiver import outbox_rows, registered_samples, verified
from senders import AMQP_URL


@pytest.fixture
def names() -> Iterator[Topology]:
    tag = secrets.token_hex(4)
    topology = Topology(outbound_exchange=f"lg.out.{tag}")
    yield topology

    async def remove() -> None:
        connection = await aio_pika.connect_robust(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for destination in ("mes", "lims"):
                await channel.queue_delete(outbound_queue(topology, destination))
            await channel.exchange_delete(topology.outbound_exchange)

    asyncio.run(remove())


def drain(queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    async def get_all() -> list[aio_pika.abc.AbstractIncomingMessage]:
        connection = await aio_pika.connect_robust(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            declared = await channel.get_queue(queue)
            taken = []
            while (message := await declared.get(fail=False)) is not None:
                await message.ack()
                taken.append(message)
            return taken

    return asyncio.run(get_all())


def test_the_relay_publishes_confirmed_persistent_messages_in_order(
    plant: Plant, hub: Hub, clock: ManualClock, names: Topology
) -> None:
    registered_samples(plant, 3)
    rows = outbox_rows(hub)
    signer = Signer.generate("labgate-test-1")
    with AmqpTransport(AMQP_URL, ["mes"], names, timeout_s=5) as transport:
        relay = Relay(SqlOutboxStore(hub.sessions), {"mes": transport}, clock, signer)
        assert relay.run_once() == RelayReport(delivered=3)
    taken = drain(outbound_queue(names, "mes"))
    assert [m.message_id for m in taken] == [r["message_id"] for r in rows]
    for message, row in zip(taken, rows, strict=True):
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        envelope = verified(message.body, signer)
        assert (envelope.schema, envelope.payload) == (row["schema"], row["payload"])


def test_an_unroutable_message_is_a_failed_attempt_not_a_lost_one(
    plant: Plant, hub: Hub, clock: ManualClock, names: Topology
) -> None:
    registered_samples(plant, 1)
    signer = Signer.generate("labgate-test-1")
    with AmqpTransport(AMQP_URL, ["mes"], names, timeout_s=5) as transport:
        transport.deliver("mes", b"{}", "warm-up")  # declares the exchange and the queue
        drain(outbound_queue(names, "mes"))

        async def unbind() -> None:
            connection = await aio_pika.connect_robust(AMQP_URL)
            async with connection:
                channel = await connection.channel()
                await channel.queue_delete(outbound_queue(names, "mes"))

        asyncio.run(unbind())
        relay = Relay(SqlOutboxStore(hub.sessions), {"mes": transport}, clock, signer)
        assert relay.run_once() == RelayReport(failed=1)
    [row] = outbox_rows(hub)
    assert (row["status"], row["attempts"]) == ("pending", 1)


def test_an_unreachable_broker_is_a_failed_attempt(
    plant: Plant, hub: Hub, clock: ManualClock, names: Topology
) -> None:
    registered_samples(plant, 1)
    signer = Signer.generate("labgate-test-1")
    nowhere = "amqp://guest:guest@127.0.0.1:1/"
    with AmqpTransport(nowhere, ["mes"], names, timeout_s=1) as transport:
        relay = Relay(SqlOutboxStore(hub.sessions), {"mes": transport}, clock, signer)
        assert relay.run_once() == RelayReport(failed=1)
