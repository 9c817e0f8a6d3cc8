"""AMQP (RabbitMQ) channel: durable exchanges, quorum queues, persistent messages, publisher
confirms, acknowledgement only after the message's effect is committed, and a dead-letter
exchange whose messages end in quarantine.

A delivery is acknowledged once the inbox has committed it (applied, duplicate, held) or put it
in quarantine. If labgate cannot decide (the database connection dropped), it tries again in place
a few times, then gives the delivery back to the queue; one that fails `delivery_limit` times is
dead-lettered and then quarantined.

Deliveries are handled in the order the broker delivers them, never concurrently: those waiting
go to the inbox as one batch, in order. The inbox applies each stream in sequence order:
deliveries handled at the same time reach it out of order, and two transactions on one stream
can each miss the message the other one is holding, which then waits forever. Retrying in place
keeps the order too: a quorum queue puts a message given back (nack) at the end of the queue,
behind the rest of its stream. A batch that still fails is retried message by message, so one
poison message never takes the innocent ones with it to the dead letters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aio_pika
import aio_pika.exceptions
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from labgate.adapters.channels.message_log import log_message, log_messages
from labgate.domain.errors import LabgateError
from labgate.service.inbox.admission import Inbox, ReceiptRefused
from labgate.service.inbox.batch import receive_batch

log = logging.getLogger("labgate.amqp")

RETRY_DELAYS = (0.2, 1.0)  # seconds before each retry in place: a dropped connection is back
QUIET = 0.002  # seconds without a new delivery after which a run is taken as it is


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
    try:
        inbound = await _declare_inbound(channel, names)
    except aio_pika.exceptions.ChannelPreconditionFailed as refused:
        raise QueueOutOfDate(
            f"RabbitMQ refuses to declare the inbound queue {names.inbound_queue} as this "
            f"labgate needs it ({refused}): an earlier labgate declared it without a single "
            "active consumer. With the senders paused (a message published while the queue is "
            "gone has nowhere to go), let the old worker drain it and stop, delete it "
            f"(rabbitmqctl delete_queue {names.inbound_queue} -p <vhost>), and start the "
            "worker again."
        ) from None
    await inbound.bind(inbound_exchange, routing_key=names.inbound_queue)
    await channel.declare_exchange(
        names.outbound_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    return inbound, dead


class QueueOutOfDate(ValueError):
    """The broker holds the inbound queue with other arguments than this labgate declares."""


async def _declare_inbound(channel: AbstractChannel, names: Topology) -> AbstractQueue:
    return await channel.declare_queue(
        names.inbound_queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": names.dead_exchange,
            "x-delivery-limit": names.delivery_limit,
            # One worker at a time takes the queue; a second waits as a standby and takes over
            # the moment the first goes. Two taking turns would each see every stream with gaps:
            # most messages held, then released one at a time (15 times slower in the bench).
            "x-single-active-consumer": True,
        },
    )


class AmqpInbox:
    """Consumes the inbound queue into the inbox, and the dead-letter queue into quarantine.

    Deliveries are taken in delivery order; those already waiting (up to `batch` of them) go to
    the inbox together, which applies consecutive in-sequence results in one transaction and
    everything else one by one (service/inbox/batch.py). Each delivery is acknowledged once its
    outcome (applied, duplicate, held, quarantined) is committed."""

    def __init__(
        self,
        url: str,
        inbox: Inbox,
        names: Topology | None = None,
        prefetch: int = 200,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        batch: int = 100,
        linger: float = 0.02,
    ):
        self.url, self.inbox, self.names, self.prefetch = url, inbox, names or Topology(), prefetch
        self.retry_delays, self.batch, self.linger = retry_delays, batch, linger

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; a lost connection is re-established, consumers included."""
        self._turn = asyncio.Lock()  # FIFO: deliveries take their turn in delivery order
        self._waiting: list[AbstractIncomingMessage] = []
        connection = await aio_pika.connect_robust(self.url)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.prefetch)
            inbound, _ = await declare(channel, self.names)
            # Dead letters on a channel of their own: a run of inbound deliveries is acked with
            # one `multiple` ack, which must not also ack a dead letter not yet quarantined.
            dead_channel = await connection.channel()
            await dead_channel.set_qos(prefetch_count=self.prefetch)
            dead = await dead_channel.get_queue(self.names.dead_queue)
            await inbound.consume(self._on_message)
            await dead.consume(self._on_dead_letter)
            await stop.wait()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._waiting.append(message)
        async with self._turn:
            # Whoever gets the turn takes every delivery waiting by then, in order; the others
            # find their message already settled and have nothing to do.
            await self._let_run_fill()
            run, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
            if run:
                await self._settle(run, self._receive)

    async def _let_run_fill(self) -> None:
        """Wait while deliveries keep coming, a few milliseconds at most: a run is settled in one
        transaction and one ack, so a stream goes in full runs, not in the few that happened to
        be parsed when the last run was acked. A lone message waits one quiet spell."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.linger
        while self._waiting and len(self._waiting) < self.batch and loop.time() < until:
            seen = len(self._waiting)
            await asyncio.sleep(QUIET)
            if len(self._waiting) == seen:
                return

    async def _on_dead_letter(self, message: AbstractIncomingMessage) -> None:
        async with self._turn:
            await self._settle([message], self._quarantine)

    def _receive(self, bodies: list[bytes]) -> None:
        # Refusals are quarantined with their raw bytes inside: every outcome is handled.
        log_messages("amqp", bodies, receive_batch(self.inbox, bodies, "amqp"))

    def _quarantine(self, bodies: list[bytes]) -> None:
        error = LabgateError(
            "The broker dead-lettered this message after repeated failed deliveries.",
            reason="amqp.dead_lettered",
        )
        for body in bodies:
            quarantine_id = self.inbox.quarantine_raw(body, "amqp", error)
            log_message("amqp", body, ReceiptRefused(error, quarantine_id))

    async def _settle(
        self,
        messages: list[AbstractIncomingMessage],
        work: Callable[[list[bytes]], None],
        retry: bool = True,
    ) -> None:
        """Acknowledge once `work` has committed; retry a failure in place, then one by one,
        then give them back."""
        bodies = [m.body for m in messages]
        for delay in (*(self.retry_delays if retry else ()), None):
            try:
                # On the event loop's own thread: handed to a worker thread, the same batches
                # ran ~40% slower (GIL hand-offs with the loop parsing the next deliveries
                # meanwhile), and nothing else needs this loop while a batch runs; a batch
                # takes well under a second, the broker's heartbeat allows a minute.
                work(bodies)
            except Exception:
                # Not decided (database away, a bug). Every step is its own transaction and the
                # inbox de-duplicates, so running it again is safe.
                if delay is None and len(messages) > 1:
                    for message in messages:  # find the one that fails; settle the others
                        await self._settle([message], work, retry=False)
                    return
                if delay is None:
                    # The broker dead-letters a delivery after the delivery limit; the
                    # dead-letter consumer quarantines it.
                    log.exception("delivery not processed; returned to the queue")
                    await messages[0].nack(requeue=True)
                    return
                log.warning(
                    "%d deliveries not processed; retrying in %s s",
                    len(bodies),
                    delay,
                    exc_info=True,
                )
                await asyncio.sleep(delay)
            else:
                await _acknowledge_run(messages)
                return


async def _acknowledge_run(messages: list[AbstractIncomingMessage]) -> None:
    """Ack a run of deliveries, given in delivery order, with one ack per channel they came on:
    `multiple` acks every delivery on that channel up to the last one's tag. Every earlier one
    is settled by then (deliveries are handled in order, each run settled before the next, and
    no other consumer shares the channel), so this acks exactly the run, one frame instead of
    one each."""
    if len(messages) == 1:
        await _acknowledge(messages[0], multiple=False)
        return
    last: dict[int, AbstractIncomingMessage] = {}
    for message in messages:
        try:
            last[id(message.channel)] = message
        except Exception:  # its channel is gone: see _acknowledge
            _not_acknowledged(message)
    for message in last.values():
        await _acknowledge(message, multiple=True)


async def _acknowledge(message: AbstractIncomingMessage, multiple: bool) -> None:
    """Ack a delivery (and, `multiple`, those before it on its channel). One that came on a
    channel lost since (the broker restarted while its batch ran) cannot be acked: the broker
    gives it again and the inbox answers duplicate. It must not stop the acks of the others,
    which may have come on the channel in use now."""
    try:
        await message.ack(multiple=multiple)
    except Exception:  # the channel or connection the delivery came on is gone
        _not_acknowledged(message)


def _not_acknowledged(message: AbstractIncomingMessage) -> None:
    log.info("delivery %s not acknowledged: its channel is closed; it will come again",
             message.delivery_tag)  # fmt: skip


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
