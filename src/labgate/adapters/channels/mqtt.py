"""MQTT channel (Mosquitto) for edge IPC results: QoS 1 with a persistent session, and the
PUBACK sent only after the inbox has committed or quarantined the message.

aiomqtt has no public switch for application-controlled acknowledgements yet (upstream
aiomqtt issue #345 / PR #346); paho-mqtt, underneath, has one (`manual_ack_set`, `ack`), which
is used here so that a crash between receipt and commit makes the broker deliver again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiomqtt

from labgate.service.inbox import Inbox, ReceiptRefused

log = logging.getLogger("labgate.mqtt")


class MqttInbox:
    """Subscribes to the inbound topic with a persistent session and feeds the inbox."""

    def __init__(
        self,
        inbox: Inbox,
        host: str = "127.0.0.1",
        port: int = 1883,
        topic: str = "labgate/in/#",
        client_id: str = "labgate-inbox",
        on_subscribed: Callable[[], None] | None = None,
    ) -> None:
        self.inbox, self.host, self.port = inbox, host, port
        self.topic, self.client_id = topic, client_id
        self.on_subscribed = on_subscribed  # e.g. tell the operator (and tests) it is ready

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; unacknowledged messages are redelivered next session."""
        client = aiomqtt.Client(
            self.host, self.port, identifier=self.client_id, clean_session=False
        )
        paho: Any = client._client  # see the module docstring
        # Before connecting: a resumed session delivers its backlog right after CONNACK.
        paho.manual_ack_set(True)
        async with client:
            await client.subscribe(self.topic, qos=1)  # returns once the broker's SUBACK is in
            if self.on_subscribed is not None:
                self.on_subscribed()
            messages = aiter(client.messages)
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(anext(messages), timeout=0.2)
                except TimeoutError:
                    continue
                if await self._handle(message):
                    paho.ack(message.mid, message.qos)

    async def _handle(self, message: aiomqtt.Message) -> bool:
        """True once the message is committed or quarantined; False leaves it unacknowledged."""
        payload = message.payload
        raw = payload if isinstance(payload, bytes) else str(payload).encode()
        try:
            await asyncio.to_thread(self.inbox.receive, raw, "mqtt")
        except ReceiptRefused:
            return True
        except Exception:
            log.exception("MQTT message %s not processed; left unacknowledged", message.mid)
            return False
        return True
