"""A partner's ways into labgate: REST, AMQP, MQTT and file packs (a drop folder or SFTP)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aiomqtt
import httpx2 as httpx
from aio_pika.abc import AbstractConnection, AbstractExchange

from labgate.adapters.channels.amqp import Topology, declare
from labgate.adapters.channels.mqtt import inbound_topic
from labgate.adapters.channels.packstore import PackExists, PackStore
from labgate.adapters.connectors.partner.dispatch import Outcome
from labgate.adapters.connectors.partner.outgoing import Outgoing

log = logging.getLogger("labgate.partner")


async def patiently(
    what: str, call: Callable[[], Awaitable[httpx.Response]], attempts: int = 12
) -> httpx.Response | None:
    """labgate's first answer below 500, waiting out a server still starting or failing; None
    if it never gives one."""
    for attempt in range(1, attempts + 1):
        try:
            answer = await call()
        except httpx.HTTPError as error:
            log.warning("%s failed (%s); attempt %d", what, error, attempt)
        else:
            if answer.status_code < 500:
                return answer
        await asyncio.sleep(min(0.2 * 2**attempt, 5))
    return None


class Labgate:
    """labgate's REST API as a system account sees it (X-API-Key)."""

    def __init__(self, url: str, api_key: str, timeout: float = 30) -> None:
        headers = {"X-API-Key": api_key}
        self.client = httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    async def sample(self, site: str, code: str) -> dict[str, Any]:
        """A sample with its planned tests and their bound limits."""
        url = f"/api/v1/sites/{site}/samples/{code}"
        answer = await patiently(f"GET {url}", lambda: self.client.get(url))
        if answer is None:
            raise RuntimeError(f"labgate at {self.client.base_url} did not answer GET {url}.")
        answer.raise_for_status()
        view: dict[str, Any] = answer.json()
        return view

    async def close(self) -> None:
        """Close the connections."""
        await self.client.aclose()


class RestChannel:
    """POST /api/v1/inbox; a server error or no answer is tried again, a refusal is not."""

    name = "rest"

    def __init__(self, api: Labgate) -> None:
        self.api = api

    async def send(self, item: Outgoing) -> Outcome:
        """Deliver one envelope; labgate's answer as an outcome."""
        headers = {"Content-Type": "application/json"}
        client = self.api.client
        answer = await patiently(
            "POST /api/v1/inbox",
            lambda: client.post("/api/v1/inbox", content=item.wire(), headers=headers),
        )
        if answer is None:
            return Outcome("failed", "rest.unreachable")
        if answer.status_code < 300:
            return Outcome(str(answer.json()["status"]))
        quarantine = answer.headers.get("x-quarantine-id")
        sequence = answer.headers.get("x-sequence")
        return Outcome("refused", answer.json().get("reason"), quarantine, sequence)

    async def close(self) -> None:
        """Nothing of its own: the API client is shared."""


class AmqpChannel:
    """Persistent messages to labgate's inbound exchange, each confirmed by the broker."""

    name = "amqp"

    def __init__(self, url: str, names: Topology | None = None) -> None:
        self.url, self.names = url, names or Topology()
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None

    async def send(self, item: Outgoing) -> Outcome:
        """Publish; returns once the broker has confirmed it."""
        if self._exchange is None:
            self._connection = await aio_pika.connect_robust(self.url)
            channel = await self._connection.channel(publisher_confirms=True)
            await declare(channel, self.names)  # the queue exists even before labgate's worker
            self._exchange = await channel.get_exchange(self.names.inbound_exchange)
        message = aio_pika.Message(
            item.wire(),
            message_id=item.message_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._exchange.publish(message, routing_key=self.names.inbound_queue)
        return Outcome("published")

    async def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            await self._connection.close()


class MqttChannel:
    """QoS 1 publications to <prefix>/<site>/<source>/in (labgate/...), the topic of the
    envelope's partner; returns at the broker's PUBACK."""

    name = "mqtt"

    def __init__(self, host: str, port: int, client_id: str, prefix: str = "labgate") -> None:
        self.client = aiomqtt.Client(host, port, identifier=client_id)
        self.prefix = prefix
        self._open = False

    async def send(self, item: Outgoing) -> Outcome:
        """Publish one envelope."""
        if not self._open:
            await self.client.__aenter__()
            self._open = True
        topic = inbound_topic(self.prefix, item.document["site"], item.document["source"])
        await self.client.publish(topic, item.wire(), qos=1)
        return Outcome("published")

    async def close(self) -> None:
        """Disconnect."""
        if self._open:
            await self.client.__aexit__(None, None, None)


class PackChannel:
    """File packs published in the exchange's incoming/ folder (a drop folder or SFTP). A name
    still waiting there (a duplicate, a resend) is put again once labgate has taken it."""

    name = "files"

    def __init__(self, connect: Callable[[], Awaitable[PackStore]], wait: float = 120) -> None:
        self.connect, self.wait = connect, wait
        self.store: PackStore | None = None

    async def send(self, item: Outgoing) -> Outcome:
        """Publish one pack under the name its manifest makes."""
        if self.store is None:
            store = await self.connect()
            await store.prepare()
            self.store = store
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while True:
            try:
                await self.store.put(item.name(), item.wire())
                return Outcome("published")
            except PackExists:
                if loop.time() > deadline:
                    return Outcome("failed", "pack.exists")
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        """Close the exchange's connection."""
        if self.store is not None:
            await self.store.close()
