"""The AMQP channel against the real RabbitMQ on 127.0.0.1:5672: ack after commit, duplicates
applied once, refusals quarantined, poison messages dead-lettered into quarantine."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

import aio_pika
import pytest
from sqlalchemy import select

from labgate.adapters.channels.amqp import AmqpInbox, AmqpPublisher, Topology, declare
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.service.inbox.admission import Inbox, Receipt
from labgate.service.inbox.incoming import Incoming
from senders import AMQP_URL, Sender, consume_until, count, request


@pytest.fixture
def names() -> Topology:
    tag = secrets.token_hex(4)
    return Topology(
        f"lg.in.{tag}",
        f"lg.inbox.{tag}",
        f"lg.dlx.{tag}",
        f"lg.dead.{tag}",
        f"lg.out.{tag}",
        delivery_limit=2,
    )


async def publish(names: Topology, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare(channel, names)
        exchange = await channel.get_exchange(names.inbound_exchange)
        for body in bodies:
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await exchange.publish(message, routing_key=names.inbound_queue)


async def remove(names: Topology) -> None:
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for queue in (names.inbound_queue, names.dead_queue):
            await channel.queue_delete(queue)
        for exchange in (names.inbound_exchange, names.dead_exchange, names.outbound_exchange):
            await channel.exchange_delete(exchange)


def run(names: Topology, work: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        try:
            await work()
        finally:
            await remove(names)

    asyncio.run(main())


@pytest.mark.requirement("URS-A11-5", category="failure_recovery")
def test_a_stream_is_applied_once_in_order_with_duplicates_and_refusals(
    hub: Hub, mes: Sender, names: Topology
) -> None:
    bodies = [request(mes, f"REQ-{n}") for n in range(1, 21)]
    stream = bodies + bodies[:5] + [b"not an envelope"]  # redelivered copies and junk
    consumer = AmqpInbox(AMQP_URL, hub.inbox, names, prefetch=1)

    async def work() -> None:
        await publish(names, stream)
        await consume_until(
            consumer,
            lambda: (
                count(hub, t.quarantine) == 1
                and count(hub, t.audit_entries, action="inbox.duplicate") == 5
            ),
        )

    run(names, work)
    assert count(hub, t.samples) == 20
    assert count(hub, t.inbox_messages, status="applied") == 20
    with hub.engine.connect() as connection:
        order = list(
            connection.scalars(select(t.samples.c.mes_request_id).order_by(t.samples.c.id))
        )
    assert order == [f"REQ-{n}" for n in range(1, 21)]


async def waiting(names: Topology) -> int:
    """Messages the broker still holds for the inbound queue (after the consumer has gone, the
    deliveries it never acknowledged are back among them)."""
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(names.inbound_queue, passive=True)
        assert queue.declaration_result.message_count is not None
        return queue.declaration_result.message_count


def test_a_run_of_deliveries_is_acknowledged_once_applied(
    hub: Hub, mes: Sender, names: Topology
) -> None:
    # The default prefetch hands the inbox runs of many deliveries, acked a run at a time.
    consumer = AmqpInbox(AMQP_URL, hub.inbox, names)
    polls: list[int] = []

    def applied_a_while_ago() -> bool:  # two polls apart: the last run's ack has gone out
        polls.append(count(hub, t.samples))
        return polls[-2:] == [40, 40]

    async def work() -> None:
        await publish(names, [request(mes, f"REQ-{n}") for n in range(1, 41)])
        await consume_until(consumer, applied_a_while_ago)
        assert await waiting(names) == 0

    run(names, work)
    assert count(hub, t.inbox_messages, status="applied") == 40
    assert count(hub, t.audit_entries, action="inbox.duplicate") == 0


class Flaky(Inbox):
    """The real inbox, except that one message always crashes processing."""

    def admit(self, incoming: Incoming, raw: bytes, channel: str) -> Receipt:
        if b"REQ-POISON" in raw:
            raise RuntimeError("processing crashed")
        return super().admit(incoming, raw, channel)


def test_a_poison_message_is_dead_lettered_into_quarantine(
    hub: Hub, mes: Sender, names: Topology
) -> None:
    flaky = Flaky(hub.bus, hub.uow_factory, hub.inbox.replay_window, hub.inbox.hold_timeout)
    consumer = AmqpInbox(AMQP_URL, flaky, names)
    poison = request(mes, "REQ-POISON")

    async def work() -> None:
        await publish(names, [poison])
        await consume_until(consumer, lambda: count(hub, t.quarantine) == 1)

    run(names, work)
    with hub.engine.connect() as connection:
        row = connection.execute(select(t.quarantine)).mappings().one()
    assert (row["reason_code"], row["channel"], row["raw"]) == (
        "amqp.dead_lettered",
        "amqp",
        poison,
    )
    assert count(hub, t.samples) == 0


def test_the_publisher_returns_once_the_broker_confirms(names: Topology) -> None:
    async def work() -> None:
        connection = await aio_pika.connect_robust(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await declare(channel, names)
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(names.outbound_exchange, routing_key="mes")
            await AmqpPublisher(AMQP_URL, names).publish("mes", b'{"x": 1}', "m-1")
            message = await queue.get(timeout=5)
            assert (message.body, message.message_id) == (b'{"x": 1}', "m-1")
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            await message.ack()

    run(names, work)


@pytest.mark.requirement("URS-TX-010", "URS-P11-11.10f", category="failure_recovery")
def test_a_second_worker_waits_as_a_standby_and_takes_over(
    hub: Hub, mes: Sender, names: Topology
) -> None:
    # Two workers on one queue: the broker gives it to one of them (single active consumer), so
    # a stream never reaches the inbox with gaps; when that worker goes, the other takes over.
    first = AmqpInbox(AMQP_URL, hub.inbox, names, prefetch=5, batch=5)
    second = AmqpInbox(AMQP_URL, hub.inbox, names, prefetch=5, batch=5)

    async def until(done: Callable[[], bool]) -> None:
        for _ in range(300):
            if await asyncio.to_thread(done):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the workers did not finish in time")

    async def work() -> None:
        stops = [asyncio.Event(), asyncio.Event()]
        tasks = [asyncio.create_task(first.run(stops[0]))]
        await asyncio.sleep(0.5)  # the first holds the queue before the second arrives
        tasks.append(asyncio.create_task(second.run(stops[1])))
        try:
            await publish(names, [request(mes, f"REQ-{n}") for n in range(1, 61)])
            await until(lambda: count(hub, t.samples) == 60)
            stops[0].set()  # the active worker stops: the standby takes the queue
            await tasks[0]
            await publish(names, [request(mes, f"REQ-{n}") for n in range(61, 91)])
            await until(lambda: count(hub, t.samples) == 90)
        finally:
            for stop in stops:
                stop.set()
            await asyncio.gather(*tasks)

    run(names, work)
    assert count(hub, t.audit_entries, action="inbox.held") == 0  # no stream ever had a gap
    assert count(hub, t.inbox_messages, status="applied") == 90
    with hub.engine.connect() as connection:
        order = list(
            connection.scalars(select(t.samples.c.mes_request_id).order_by(t.samples.c.id))
        )
    assert order == [f"REQ-{n}" for n in range(1, 91)]
