"""Partner systems for the messaging tests: each signs envelopes with its own key, on its own
stream, the way a real MES or LIMS would."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import aiomqtt
from sqlalchemy import func, select

from labgate.bootstrap import Hub
from labgate.compliance.envelope import build_envelope, encode, generate_keypair
from labgate.domain.commands import Context
from labgate.domain.interface_commands import RegisterSourceKey
from labgate.service.inbox.admission import Receipt
from plant import SITE

AMQP_URL = os.environ.get("LABGATE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass
class Sender:
    """A source system with its own key and stream, signing the way a partner would."""

    hub: Hub
    source: str
    stream: str
    kid: str
    private: dict[str, Any]
    sequence: int = 0
    sent: list[bytes] = field(default_factory=list)

    def envelope(self, schema: str, payload: dict[str, Any], **overrides: Any) -> bytes:
        self.sequence += 1
        fields = {
            "sent_at": self.hub.bus.deps.clock.now(),
            "sequence": self.sequence,
            "correlation_id": f"trace-{self.sequence}",
            **overrides,
        }
        document = build_envelope(
            schema,
            SITE,
            self.source,
            self.stream,
            fields.pop("sequence"),
            payload,
            kid=self.kid,
            private_jwk=self.private,
            **fields,
        )
        raw = encode(document)
        self.sent.append(raw)
        return raw

    def send(self, raw: bytes) -> Receipt:
        return self.hub.inbox.receive(raw, "test", caller=self.source)


def register(hub: Hub, source: str, kid: str) -> dict[str, Any]:
    private, public = generate_keypair()
    start = hub.bus.deps.clock.now() - timedelta(days=1)
    reason = "CR-7: the partner's signing key"
    hub.bus.handle(RegisterSourceKey(Context("admin"), source, kid, public, start, None, reason))
    return private


def request(mes: Sender, request_id: str, **overrides: Any) -> bytes:
    payload = {
        "mes_request_id": request_id,
        "product": "P1",
        "sampled_at": "2026-11-24T10:00:00Z",
        "batch": "B1",
        "sampling_point": "SP-REL",
    }
    return mes.envelope("labgate.sample_request.v1", payload, **overrides)


def count(hub: Hub, table: Any, **where: Any) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with hub.engine.connect() as connection:
        return int(connection.scalar(query) or 0)


class Consumer(Protocol):
    """A channel consumer that runs until told to stop."""

    async def run(self, stop: asyncio.Event) -> None: ...


async def consume_until(consumer: Consumer, done: Callable[[], bool], seconds: float = 30) -> None:
    """Run `consumer` until `done()` holds, or fail after `seconds`."""
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        for _ in range(int(seconds * 10)):
            if await asyncio.to_thread(done):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the consumer did not finish in time")
    finally:
        stop.set()
        await task


def forget_mqtt_session(client_id: str = "labgate-inbox") -> None:
    """Discard a persistent MQTT session and the QoS 1 messages the broker kept for it (left by
    earlier runs on this machine's shared Mosquitto), so a worker starts from a clean slate."""

    async def clean() -> None:
        async with aiomqtt.Client("127.0.0.1", 1883, identifier=client_id, clean_session=True):
            pass

    asyncio.run(clean())
