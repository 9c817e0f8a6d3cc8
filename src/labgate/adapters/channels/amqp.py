"""AMQP (RabbitMQ) channel: durable exchanges, quorum queues, persistent messages, publisher
confirms, acknowledgement only after the message's effect is committed, and a dead-letter
exchange whose messages end in quarantine.

A delivery is acknowledged once the inbox has committed it (applied, duplicate, held) or put it
in quarantine; if labgate cannot decide (the database is down), the delivery goes back to the
queue; one that fails `delivery_limit` times is dead-lettered and then quarantined."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from labgate.domain.errors import LabgateError
from labgate.service.inbox import Inbox, ReceiptRefused

log = logging.getLogger("labgate.amqp")


@dataclass(frozen=True)
class Topology:
    """Names of the exchanges and queues labgate uses on a broker."""

    inbound_exchange: str = "labgate.in"
    inbound_queue: str = "labgate.inbox"
    dead_exchange: str = "labgate.dlx"
    dead_queue: str = "labgate.dead"
    outbound_exchange: str = "labgate.out"
    delivery_limit: int = 5


async def declare(channel: AbstractChannel, names: Topology) -> tuple[AbstractQueue, AbstractQueue]:
    """Declare (idempotently) the inbound quorum queue and its dead-letter queue."""
    dead_exchange = await channel.declare_exchange(
        names.dead_exchange, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead = await channel.declare_queue(
        names.dead_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead.bind(dead_exchange)
    inbound_exchange = await channel.declare_exchange(
        names.inbound_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    inbound = await channel.declare_queue(
        names.inbound_queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": names.dead_exchange,
            "x-delivery-limit": names.delivery_limit,
        },
    )
    await inbound.bind(inbound_exchange, routing_key=names.inbound_queue)
    await channel.declare_exchange(
        names.outbound_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    return inbound, dead


class AmqpInbox:
    """Consumes the inbound queue into the inbox, and the dead-letter queue into quarantine."""

    def __init__(self, url: str, inbox: Inbox, names: Topology | None = None, prefetch: int = 50):
        self.url, self.inbox, self.names, self.prefetch = url, inbox, names or Topology(), prefetch

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set."""
        connection = await aio_pika.connect_robust(self.url)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.prefetch)
            inbound, dead = await declare(channel, self.names)
            await inbound.consume(self._on_message)
            await dead.consume(self._on_dead_letter)
            await stop.wait()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            await asyncio.to_thread(self.inbox.receive, message.body, "amqp")
        except ReceiptRefused:
            pass  # quarantined, with its raw bytes: handled
        except Exception:
            # Not decided (database away, a bug): back to the queue; the broker dead-letters it
            # after the delivery limit, and the dead-letter consumer quarantines it.
            log.exception("delivery %s not processed; returned to the queue", message.delivery_tag)
            await message.nack(requeue=True)
            return
        await message.ack()

    async def _on_dead_letter(self, message: AbstractIncomingMessage) -> None:
        error = LabgateError(
            "The broker dead-lettered this message after repeated failed deliveries.",
            reason="amqp.dead_lettered",
        )
        await asyncio.to_thread(self.inbox.quarantine_raw, message.body, "amqp", error)
        await message.ack()


class AmqpPublisher:
    """Publishes persistent messages with publisher confirms (the relay's AMQP transport)."""

    def __init__(self, url: str, names: Topology | None = None) -> None:
        self.url, self.names = url, names or Topology()

    async def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        """Return only once the broker has confirmed the message is stored."""
        connection = await aio_pika.connect_robust(self.url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(self.names.outbound_exchange)
            await exchange.publish(
                aio_pika.Message(
                    body,
                    message_id=message_id,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=routing_key,
            )
