"""Bulk ingest of signed results over AMQP and in file packs (REST: latency.py).

AMQP: every envelope is published (persistent, confirmed) to the run's vhost first; the rate is N
over the time `AmqpInbox` takes to verify, check, apply and commit each one with its audit
entries, inbox record and outbox row, then acknowledge it. File packs: as many results in packs
of 100 records, put in a drop folder first, then picked up (`PackPickup`: claim, read, inbox,
move to processed/). Each raw limit is measured in the same run: plain Ed25519 verification of
the same signatures (and SHA-256 of the packs' data files), plus plain INSERTs of the very rows
labgate wrote (results, audit entries, outbox, inbox) into a fresh copy with the same durability,
100 results to a commit: for packs, one commit per pack, as labgate commits them. The AMQP raw
limit adds the consumer's own cost: the same envelopes published again to a queue of their own
and taken by the same consumer (`AmqpInbox`: aio-pika, the same prefetch, runs and `multiple`
acks) with nothing behind it, as `amqp.consume_and_ack_only` takes its messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aio_pika
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.progress import Progress
from sqlalchemy import select

from labgate.adapters.channels.amqp import AmqpInbox, Topology, declare
from labgate.adapters.channels.pack_pickup import PackPickup
from labgate.adapters.channels.packstore import FolderPackStore
from labgate.adapters.codecs.filepack import DataFile, build_pack, csv_bytes, decode_pack
from labgate.adapters.store import tables as t
from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.envelope import build_envelope, encode, generate_keypair, parse_envelope
from labgate.compliance.passwords import new_api_key
from labgate.config import Settings
from labgate.domain import commands as c
from labgate.domain.interface_commands import RegisterSourceKey
from labgate_bench.main import (
    BATCH,
    OUT,
    RESULTS,
    WRITTEN,
    Figure,
    copy_samples,
    prepare,
    raw_insert,
    rows_between,
    seconds,
)
from labgate_bench.main import marks as marks_of
from labgate_bench.reference import b64url  # one decoder for the bench's raw limits

AMQP_URL = os.environ.get("LABGATE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
SOURCE, KID = "lims", "lims-bench"
# Results per ingest line: at least ten batches (packs) of 100, so that the sustained rate is
# measured rather than the first transaction's reading of master data.
COUNT = max(1000, RESULTS)
PERSISTENT = aio_pika.DeliveryMode.PERSISTENT
INGESTED = (*WRITTEN, (t.inbox_messages, t.inbox_messages.c.id))


class Lims:
    """The LIMS as the hub knows it: a registered Ed25519 key and a system account (API key)."""

    def __init__(self, hub: Hub, api_key: str) -> None:
        self.hub, (self.private, self.public) = hub, generate_keypair()
        since, ctx = hub.bus.deps.clock.now() - timedelta(days=1), c.Context("bench", "system")
        self.api_key = api_key  # its account made by bench.prepare, with the people it names
        hub.bus.handle(
            RegisterSourceKey(ctx, SOURCE, KID, self.public, since, None, "bench source key")
        )

    def envelope(self, stream: str, sequence: int, result: c.RecordResult, cid: str) -> bytes:
        """The result as a signed labgate.result.v1 envelope."""
        document = build_envelope(
            "labgate.result.v1", result.site, SOURCE, stream, sequence, payload(result),
            kid=KID, private_jwk=self.private, sent_at=self.hub.bus.deps.clock.now(),
            correlation_id=cid,
        )  # fmt: skip
        return encode(document)


def payload(result: c.RecordResult) -> dict[str, Any]:
    """The labgate.result.v1 payload of a reviewed result."""
    approved = result.approved_at.isoformat().replace("+00:00", "Z") if result.approved_at else None
    return {
        "sample": result.sample, "test_code": result.test_code, "value": result.value,
        "unit": result.unit, "method_version": result.method_version, "analyst": result.analyst,
        "lims_status": result.lims_status, "reviewer": result.reviewer, "approved_at": approved,
    }  # fmt: skip


def plain_verify(documents: list[bytes], public_jwk: dict[str, Any]) -> float:
    """Seconds to check the documents' Ed25519 signatures, and nothing else (RFC 7797 input)."""
    key = Ed25519PublicKey.from_public_bytes(b64url(public_jwk["x"]))
    signed = []
    for document in documents:
        envelope = parse_envelope(document)
        header, signature = envelope.jws.split("..")
        signed.append((b64url(signature), header.encode() + b"." + envelope.signing_bytes()))
    return seconds(lambda: [key.verify(s, m) for s, m in signed])


@contextmanager
def vhost() -> Iterator[str]:
    """A fresh RabbitMQ vhost for guest (rabbitmqctl), deleted afterwards with all in it."""
    name = f"labgate-bench-{os.getpid()}-{secrets.token_hex(3)}"

    def ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)

    ctl("add_vhost", name)
    try:
        ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield AMQP_URL.rsplit("/", 1)[0] + "/" + quote(name, safe="")
    finally:
        ctl("delete_vhost", name)


def topology(tag: str) -> Topology:
    """Exchanges and queues of one phase, apart from the others in the run's vhost."""
    in_, inbox, dlx, dead, out = (
        f"labgate.{k}.{tag}" for k in ("in", "inbox", "dlx", "dead", "out")
    )
    return Topology(in_, inbox, dlx, dead, out)


async def publish(url: str, names: Topology, bodies: list[bytes], window: int = 500) -> None:
    """Declare the topology and publish persistent messages, confirmed a window at a time."""
    async with await aio_pika.connect_robust(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare(channel, names)
        exchange = await channel.get_exchange(names.inbound_exchange)
        for start in range(0, len(bodies), window):
            messages = [
                aio_pika.Message(b, delivery_mode=PERSISTENT) for b in bodies[start:][:window]
            ]
            await asyncio.gather(*(exchange.publish(m, names.inbound_queue) for m in messages))


def position(hub: Hub, stream: str) -> int:
    """The last sequence applied on the LIMS's stream (one primary-key read: polls stay light)."""
    p = t.stream_positions.c
    query = select(p.last_sequence).where(p.source == SOURCE, p.stream == stream)
    with hub.engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def applied_cleanly(hub: Hub, stream: str) -> None:
    """Refuse a figure if any message of the stream was refused rather than applied."""
    i = t.inbox_messages.c
    query = select(i.status).where(i.source == SOURCE, i.stream == stream).distinct()
    with hub.engine.connect() as connection:
        found = set(connection.scalars(query))
    if found != {"applied"}:
        raise RuntimeError(f"bench stream {stream} was not applied cleanly: {found}")


async def consume(url: str, names: Topology, hub: Hub, stream: str, expected: int) -> None:
    """Run the AMQP consumer into the hub until the stream reached `expected`."""
    stop = asyncio.Event()
    task = asyncio.create_task(AmqpInbox(url, hub.inbox, names).run(stop))
    with Progress(transient=True) as progress:
        bar = progress.add_task(f"AMQP ingest ({stream})", total=expected)
        try:
            while (done := await asyncio.to_thread(position, hub, stream)) < expected:
                if task.done():
                    raise RuntimeError("the AMQP consumer stopped before the stream was applied")
                progress.update(bar, completed=done)
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task


def bench_amqp(label: str, hub: Hub, lims: Lims, results: list[c.RecordResult], raw: Hub,
               url: str) -> Figure:  # fmt: skip
    """AMQP ingest against plain verification plus INSERTs, 100 to a commit."""
    stream, names = "results-amqp", topology(f"{label}-ingest")
    bodies = [lims.envelope(stream, n, r, f"amqp-{n}") for n, r in enumerate(results, 1)]
    asyncio.run(publish(url, names, bodies))
    low = marks_of(hub.engine, INGESTED)
    took = seconds(lambda: asyncio.run(consume(url, names, hub, stream, len(bodies))))
    applied_cleanly(hub, stream)
    rows = rows_between(hub.engine, low, marks_of(hub.engine, INGESTED), INGESTED)
    transport = consume_only(url, topology(f"{label}-ingest-raw"), bodies)
    plain = transport + plain_verify(bodies, lims.public) + raw_insert(raw.engine, rows, BATCH)
    return Figure(f"{label}.ingest.amqp", len(bodies) / took, "results/s", len(bodies) / plain)


class _CountingInbox(AmqpInbox):
    """The AMQP consumer with nothing behind it: each run of deliveries is only counted, then
    acknowledged as the real one acknowledges them."""

    received = 0

    def _receive(self, bodies: list[bytes]) -> None:
        self.received += len(bodies)


def consume_only(url: str, names: Topology, bodies: list[bytes]) -> float:
    """Seconds the AMQP consumer (its prefetch, runs and acks) takes to consume and acknowledge
    `bodies`, published first to `names`' queue, with nothing behind it."""
    asyncio.run(publish(url, names, bodies))
    consumer = _CountingInbox(url, None, names)  # type: ignore[arg-type]  # never reached

    async def consume() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        while consumer.received < len(bodies):
            if task.done():
                raise RuntimeError("the AMQP consumer stopped before every delivery came")
            await asyncio.sleep(0.005)
        stop.set()
        await task

    return seconds(lambda: asyncio.run(consume()))


def bench_transport(url: str, size: int) -> Figure:
    """What consuming and acknowledging costs by itself (aio-pika, RabbitMQ, this machine): the
    deliveries the AMQP line could take if labgate did no work at all. Messages of `size`
    bytes, as many as that line has."""
    took = consume_only(url, topology("transport"), [b"x" * size] * COUNT)
    return Figure("amqp.consume_and_ack_only", COUNT / took, "deliveries/s")


def bench_packs(label: str, hub: Hub, lims: Lims, results: list[c.RecordResult], raw: Hub
                ) -> Figure:  # fmt: skip
    """File packs through a drop folder against plain verification, SHA-256 and INSERTs."""
    packs = []
    for n, start in enumerate(range(0, len(results), BATCH), 1):
        chunk = [payload(r) for r in results[start : start + BATCH]]
        packs.append(build_pack(
            [DataFile("results.csv", csv_bytes(chunk), len(chunk))], site=results[0].site,
            source=SOURCE, stream="results-pack", sequence=n, kid=KID, private_jwk=lims.private,
            sent_at=hub.bus.deps.clock.now(), correlation_id=f"pack-{n}",
        ))  # fmt: skip
    store = FolderPackStore(OUT / f"packs-{label}")
    shutil.rmtree(store.root, ignore_errors=True)

    async def drop() -> None:
        await store.prepare()
        for name, data in packs:
            await store.put(name, data)

    asyncio.run(drop())
    low = marks_of(hub.engine, INGESTED)
    outcomes: list[Any] = []
    took = seconds(lambda: outcomes.extend(asyncio.run(PackPickup(store, hub.inbox).run_once())))
    if [o.status for o in outcomes] != ["applied"] * len(packs):
        raise RuntimeError(f"bench packs were not all applied: {outcomes}")
    rows = rows_between(hub.engine, low, marks_of(hub.engine, INGESTED), INGESTED)
    members = [decode_pack(data).members for _, data in packs]
    digest = seconds(lambda: [hashlib.sha256(m["results.csv"]).digest() for m in members])
    manifests = [m["manifest.json"] for m in members]
    plain = plain_verify(manifests, lims.public) + digest + raw_insert(raw.engine, rows, BATCH)
    return Figure(f"{label}.ingest.file_pack", len(results) / took, "results/s",
                  len(results) / plain)  # fmt: skip


def run(label: str, url: str, raw_url: str, amqp_url: str) -> list[Figure]:
    """The bulk ingest lines for one database; COUNT results each."""
    hub, results, lims_key = prepare(url, 2 * COUNT)
    upgrade(raw_url)
    raw = bootstrap(Settings(database_url=raw_url, token_secret=new_api_key()))
    try:
        lims = Lims(hub, lims_key)
        copy_samples(hub.engine, raw.engine)
        figures = [
            bench_amqp(label, hub, lims, results[:COUNT], raw, amqp_url),
            bench_packs(label, hub, lims, results[COUNT:], raw),
        ]
    finally:
        raw.close()
        hub.close()
    return figures
