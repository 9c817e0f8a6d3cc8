"""The relay's AMQP transport: each signed envelope is published to the durable outbound
exchange, routed by destination (`mes`, `lims`) to a quorum queue the receiver consumes, as a
persistent message with publisher confirms and the mandatory flag — the relay counts a message
delivered only once the broker has stored it in a queue; an unroutable or unconfirmed one is a
failed attempt, retried with back-off like a webhook that did not answer.

The relay is synchronous; the transport keeps one connection and one confirming channel on an
event loop of its own, in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from labgate.adapters.channels.amqp import Topology
from labgate.service.outbox.relay import DeliveryFailed

T = TypeVar("T")


def outbound_queue(names: Topology, destination: str) -> str:
    """The queue a destination's receiver consumes: `labgate.out.mes`, `labgate.out.lims`."""
    return f"{names.outbound_exchange}.{destination}"


async def declare_outbound(
    channel: AbstractChannel, names: Topology, destinations: Iterable[str]
) -> AbstractExchange:
    """The outbound exchange and one durable quorum queue per destination (idempotent)."""
    exchange = await channel.declare_exchange(
        names.outbound_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    for destination in destinations:
        queue = await channel.declare_queue(
            outbound_queue(names, destination), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key=destination)
    return exchange


class AmqpTransport:
    """Publishes envelopes for the relay; `deliver` returns once the broker confirmed."""

    def __init__(
        self,
        url: str,
        destinations: Iterable[str],
        names: Topology | None = None,
        timeout_s: float = 10,
    ) -> None:
        self.url, self.names, self.timeout_s = url, names or Topology(), timeout_s
        self.destinations = tuple(destinations)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None

    def deliver(self, destination: str, envelope: bytes, message_id: str) -> None:
        """Publish persistently and wait for the broker's confirm; DeliveryFailed otherwise."""
        if destination not in self.destinations:
            raise DeliveryFailed(f"No AMQP route for destination {destination!r}.")
        try:
            self._run(self._publish(destination, envelope, message_id))
        except DeliveryFailed:
            raise
        except Exception as error:  # broker away, channel closed, confirm timed out
            raise DeliveryFailed(
                f"RabbitMQ did not confirm the message: {type(error).__name__}: {error}"
            ) from None

    async def _publish(self, destination: str, envelope: bytes, message_id: str) -> None:
        if self._exchange is None:
            self._connection = await aio_pika.connect_robust(self.url, timeout=self.timeout_s)
            channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._exchange = await declare_outbound(channel, self.names, self.destinations)
        message = aio_pika.Message(
            envelope,
            message_id=message_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            await self._exchange.publish(
                message, routing_key=destination, mandatory=True, timeout=self.timeout_s
            )
        except aio_pika.exceptions.DeliveryError as error:
            raise DeliveryFailed(
                f"RabbitMQ could not route the message to {outbound_queue(self.names, destination)}"
                f": {error}"
            ) from None

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(self.timeout_s + 5)

    def close(self) -> None:
        """Close the connection and stop the loop."""
        if self._connection is not None:
            self._run(self._connection.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> AmqpTransport:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
