"""MQTT channel (Mosquitto) for edge IPC results: QoS 1 with a persistent session, and the
PUBACK sent only after the inbox has committed or quarantined the message.

Topics carry the partner: `<prefix>/<site>/<source>/in` (prefix `labgate`). A worker subscribes
to its own site's sources only, so on a broker shared by several sites or partners it never
takes another's messages; and a message whose envelope names another site or source than its
topic is refused (`channel.route_mismatch`) and quarantined.

aiomqtt has no public switch for application-controlled acknowledgements yet (upstream
aiomqtt issue #345 / PR #346); paho-mqtt, underneath, has one (`manual_ack_set`, `ack`), which
is used here so that a crash between receipt and commit makes the broker deliver again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiomqtt
from aiomqtt import Message
from aiomqtt.client import MessagesIterator

from labgate.adapters.channels.message_log import log_message
from labgate.service.inbox.admission import Inbox
from labgate.service.inbox.batch import receive_batch
from labgate.service.inbox.incoming import Route

log = logging.getLogger("labgate.mqtt")
QUIET = 0.002  # seconds without a new message after which a run is taken as it is


def topic_level(value: str, what: str) -> str:
    """`value` if it can be one topic level: not empty, no '/', '+', '#' or NUL."""
    if not value or any(bad in value for bad in ("/", "+", "#", "\0")):
        raise ValueError(
            f"The MQTT {what} {value!r} cannot be a topic level: it must be non-empty, without "
            "'/', '+', '#' or NUL."
        )
    return value


def inbound_topic(prefix: str, site: str, source: str) -> str:
    """The topic a partner (source) of a site publishes its envelopes to."""
    if not prefix or any(bad in prefix for bad in ("+", "#")) or prefix.endswith("/"):
        raise ValueError(
            f"The MQTT topic prefix {prefix!r} must be non-empty, without '+' or '#', and not "
            "end with '/'."
        )
    return f"{prefix}/{topic_level(site, 'site')}/{topic_level(source, 'source')}/in"


def route_of(topic: str, prefix: str) -> Route | None:
    """The site and source a topic under `prefix` vouches for; None for any other topic."""
    rest = topic.removeprefix(prefix + "/") if topic.startswith(prefix + "/") else None
    parts = rest.split("/") if rest is not None else []
    if len(parts) != 3 or parts[2] != "in":
        return None
    return Route(f"topic {topic}", parts[0], parts[1])


class MqttInbox:
    """Subscribes to the inbound topic with a persistent session and feeds the inbox.

    The messages that arrived while a run was applied (up to `batch` of them) go to the inbox
    together, as AMQP deliveries do (service/inbox/batch.py): consecutive in-sequence results in
    one transaction, everything else one by one, in order. Each is acknowledged (PUBACK) once
    its outcome is committed or quarantined."""

    def __init__(
        self,
        inbox: Inbox,
        site: str,
        sources: Sequence[str],
        host: str = "127.0.0.1",
        port: int = 1883,
        client_id: str = "labgate-inbox",
        prefix: str = "labgate",
        on_subscribed: Callable[[], None] | None = None,
        batch: int = 100,
        linger: float = 0.02,
    ) -> None:
        if not sources:
            raise ValueError("The MQTT worker needs at least one source to subscribe to.")
        self.inbox, self.host, self.port = inbox, host, port
        self.prefix, self.client_id = prefix, client_id
        self.topics = [inbound_topic(prefix, site, source) for source in sources]
        self.on_subscribed = on_subscribed  # e.g. tell the operator (and tests) it is ready
        self.batch, self.linger = batch, linger
        self.sizes: list[int] = []  # of the last runs received, for tests

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; unacknowledged messages are redelivered next session."""
        client = aiomqtt.Client(
            self.host, self.port, identifier=self.client_id, clean_session=False
        )
        paho: Any = client._client  # see the module docstring
        # Before connecting: a resumed session delivers its backlog right after CONNACK.
        paho.manual_ack_set(True)
        async with client:
            # Returns once the broker's SUBACK is in.
            await client.subscribe([(topic, 1) for topic in self.topics])
            if self.on_subscribed is not None:
                self.on_subscribed()
            messages = client.messages
            # One read stays pending across idle spells and is never cancelled while running:
            # aiomqtt's read, cancelled just as its queue hands it a message, drops that
            # message (and, acknowledged by no one, the broker keeps it back until the next
            # session). Only at the stop is it cancelled, when an unacknowledged message is
            # delivered again next session anyway.
            stopping = asyncio.ensure_future(stop.wait())
            reading: asyncio.Future[Message] = asyncio.ensure_future(anext(messages))
            try:
                while True:
                    await asyncio.wait((reading, stopping), return_when=asyncio.FIRST_COMPLETED)
                    if not reading.done():
                        break
                    run = [reading.result(), *await self._rest_of_run(messages)]
                    reading = asyncio.ensure_future(anext(messages))
                    self.sizes = [*self.sizes[-99:], len(run)]
                    for message in await self._settled(run):
                        paho.ack(message.mid, message.qos)
                    if stop.is_set():
                        break
            finally:
                reading.cancel()
                stopping.cancel()

    async def _rest_of_run(self, messages: MessagesIterator) -> list[Message]:
        """The messages queued behind the first, up to the run's bound. While they keep coming
        (a few milliseconds at most) it waits for them, so a burst goes in one run rather than
        in the few that happened to be read already; a lone message waits one quiet spell.
        Each is taken once queued, so no read is ever cancelled half-way."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.linger
        while len(messages) < self.batch - 1 and loop.time() < until:
            seen = len(messages)
            await asyncio.sleep(QUIET)
            if len(messages) == seen:
                break
        return [await anext(messages) for _ in range(min(len(messages), self.batch - 1))]

    async def _settled(self, run: list[Message]) -> list[Message]:
        """The messages of the run whose outcome is committed or quarantined. A run that fails
        as a whole (the database away, a bug) is received again message by message, so that one
        poison message leaves only itself unacknowledged."""
        try:
            await asyncio.to_thread(self._receive, run)
        except Exception:
            if len(run) == 1:
                log.exception("MQTT message %s not processed; left unacknowledged", run[0].mid)
                return []
            settled = []
            for message in run:  # the inbox de-duplicates: receiving one again is safe
                settled += await self._settled([message])
            return settled
        return run

    def _receive(self, run: list[Message]) -> None:
        raws = [_raw(message) for message in run]
        topics = [message.topic.value for message in run]
        # Only our topics are subscribed; one of another shape (a broker's retained oddity) is
        # refused as coming by a route that vouches for no one.
        routes = [route_of(t, self.prefix) or Route(f"topic {t}", "-", "-") for t in topics]
        # Refusals are quarantined with their raw bytes inside: every outcome is handled.
        outcomes = receive_batch(self.inbox, raws, "mqtt", routes=routes)
        for raw, topic, outcome in zip(raws, topics, outcomes, strict=True):
            log_message("mqtt", raw, outcome, topic=topic)


def _raw(message: Message) -> bytes:
    payload = message.payload
    return payload if isinstance(payload, bytes) else str(payload).encode()
