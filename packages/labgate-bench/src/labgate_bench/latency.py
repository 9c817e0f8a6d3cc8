"""Time as the other systems see it: REST ingest under 50 clients, and result integration
latency from the lab's approval to the MES having the message.

REST: `labgate serve` in its own process on a free port; 50 clients, each on its own stream,
POST single signed results to /api/v1/inbox, ten each after one untimed request each to warm
the server up. The raw rate is the same clients sending the same envelopes to the lean
reference inbox (reference.py: the same web stack and database kind with the same durability,
verifying, evaluating and writing the inbox key, result, chained audit row and outbox row of
each, concurrent requests group-committed), in its own process on a database of its own; the
ratio says what labgate's design costs over the essential work. p50 and p99 are each request's
time as its client saw it.

Latency: the LIMS hands over a result it approved (a signed labgate.result.v1, lims_status
approved) → the inbox commits it with its outbox row, which rings the hub's relay bell → the
relay (`RelayLoop` on that bell, as `labgate serve` and `labgate relay run` run it; its 0.1 s
poll is only the safety net) wakes, signs it and sends it → the MES has it. `embedded`: the
envelope goes to the inbox in-process and the relay POSTs to a webhook served here. `rabbitmq`:
RabbitMQ on both legs, as a plant running on the broker would have it: the LIMS publishes
(persistent, confirmed), `AmqpInbox` consumes, the relay publishes with its AMQP transport
(`LABGATE_MES_TRANSPORT=amqp`: confirmed, mandatory) and the MES consumes from
`labgate.out.…mes`. One result at a time, each sent once the one before reached the MES, after
a random pause of up to one relay interval (so sends fall anywhere in the relay's poll, were it
polling): the latency of one approval, not of a queue. The clock starts when the LIMS
sends and stops when the MES has read the message."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aio_pika
import httpx2 as httpx
from aio_pika.abc import AbstractIncomingMessage
from rich.progress import Progress
from sqlalchemy import update

from labgate.adapters.channels.amqp import AmqpInbox, Topology, declare
from labgate.adapters.channels.amqp_relay import AmqpTransport, declare_outbound, outbound_queue
from labgate.adapters.channels.webhook import WebhookTransport
from labgate.adapters.store import tables as t
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.passwords import new_api_key
from labgate.compliance.signer import Signer
from labgate.service.outbox.records import MES
from labgate.service.outbox.relay import Relay
from labgate.service.outbox.relay_loop import RelayLoop
from labgate_bench.ingest import KID, PERSISTENT, Lims, topology
from labgate_bench.main import OUT, RESULTS, Figure, cpu_seconds, percentile, prepare

CLIENTS, RELAY_INTERVAL = 50, 0.1
LATENCY_SAMPLES = max(50, RESULTS // 4)  # per line
# Timed requests, ten per client (a client's first, untimed, warms the server up): long enough
# that the 50 clients overlap in steady state rather than in the first second after start.
REQUESTS = max(10 * CLIENTS, RESULTS // 2)
Work = list[list[bytes | None]]  # per client, in order: an envelope to POST, or None: GET /docs


@contextmanager
def server(
    url: str, log: Path, reference_key: Path | None = None, options: Sequence[str] = ()
) -> Iterator[str]:
    """`labgate serve` (with `options`) on a free port over the database `url` (with
    `reference_key`, the lean reference inbox instead, checking signatures with that public
    key); its base URL once it answers."""
    with served(url, log, reference_key, options) as (base, _):
        yield base


@contextmanager
def served(
    url: str, log: Path, reference_key: Path | None = None, options: Sequence[str] = ()
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As `server`, with the server's process (for its CPU time)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "LABGATE_DATABASE_URL": url, "LABGATE_TOKEN_SECRET": new_api_key(),
           "LABGATE_REPLAY_WINDOW_SECONDS": "3600", "LABGATE_DEMO": "0"}  # fmt: skip
    labgate = str(Path(sys.executable).parent / "labgate")
    command = [labgate, "serve", "--host", "127.0.0.1", "--port", str(port), *options]
    ready = "/docs"
    if reference_key is not None:
        command = [sys.executable, "-m", "labgate_bench.reference", "--database", url,
                   "--key", str(reference_key), "--port", str(port)]  # fmt: skip
        ready = "/health"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        while process.poll() is None:
            try:
                if httpx.get(f"{base}{ready}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"labgate serve exited; see {log}")
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


async def clients(
    base: str, api_key: str, work: Work, tick: Callable[[], None]
) -> tuple[float, list[float]]:
    """Each list of requests on a client of its own, in order: POST the envelope to the inbox
    (None: GET /docs). The seconds it all took, and each request's latency."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(work), max_keepalive_connections=len(work))
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=300
    ) as http:

        async def client(bodies: list[bytes | None]) -> None:
            for body in bodies:
                start = time.perf_counter()
                if body is None:
                    answer = await http.get("/docs")
                else:
                    answer = await http.post("/api/v1/inbox", content=body)
                latencies.append(time.perf_counter() - start)
                tick()
                if answer.status_code != 200:
                    raise RuntimeError(f"bench request refused: {answer.status_code} {answer.text}")

        start = time.perf_counter()
        await asyncio.gather(*(client(bodies) for bodies in work))
        return time.perf_counter() - start, latencies


def bench_rest(label: str, url: str, lims: Lims, results: list[Any], reference_url: str) -> Figure:
    """Single envelopes over REST, 50 clients at once, each on its own stream. Each client
    first sends one envelope and one GET /docs, untimed: a server just started imports code
    and fills its caches and connection pools on its first requests, which a hub that runs for
    weeks does once."""
    streams: Work = [
        [lims.envelope(f"rest-{k:02d}", n, r, f"rest-{k}-{n}")
         for n, r in enumerate(results[k::CLIENTS], 1)]
        for k in range(CLIENTS)
    ]  # fmt: skip
    warm_up: Work = [[bodies[0], None] for bodies in streams]
    work: Work = [bodies[1:] for bodies in streams]
    count = sum(len(bodies) for bodies in work)
    key = OUT / f"reference-{label}.public.jwk.json"
    key.write_text(json.dumps({**lims.public, "kid": KID}), encoding="utf-8")
    with Progress(transient=True) as progress:
        task = progress.add_task(f"{label}: REST, {CLIENTS} clients", total=2 * count)

        def tick() -> None:
            progress.advance(task)

        with served(url, OUT / f"serve-{label}.log") as (base, process):
            asyncio.run(clients(base, lims.api_key, warm_up, lambda: None))
            cpu = cpu_seconds(process.pid)
            took, latencies = asyncio.run(clients(base, lims.api_key, work, tick))
            cpu = cpu_seconds(process.pid) - cpu
        with served(reference_url, OUT / f"reference-{label}.log", key) as (base, process):
            asyncio.run(clients(base, lims.api_key, [b[:1] for b in warm_up], lambda: None))
            raw_cpu = cpu_seconds(process.pid)
            raw_took, _ = asyncio.run(clients(base, lims.api_key, work, tick))
            raw_cpu = cpu_seconds(process.pid) - raw_cpu
    p50, p99 = (1000 * percentile(latencies, q) for q in (0.50, 0.99))
    return Figure(f"{label}.ingest.rest_{CLIENTS}", count / took, "requests/s",
                  count / raw_took, p50, p99, cpu_ms=1000 * cpu / count,
                  raw_cpu_ms=1000 * raw_cpu / count)  # fmt: skip


class Mes:
    """A minimal MES webhook: notes when each message arrived, by its correlation id."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.change = threading.Condition()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/mes"

    def take(self, body: bytes, at: float) -> None:
        """One message arrived at `at`."""
        with self.change:
            self.arrived[json.loads(body).get("correlation_id") or "-"] = at
            self.change.notify_all()

    def arrival(self, cid: str, timeout: float = 60) -> float:
        """When the message with correlation id `cid` arrived (waiting for it)."""
        with self.change:
            if not self.change.wait_for(lambda: cid in self.arrived, timeout):
                raise RuntimeError(f"the MES did not receive {cid} within {timeout:g} s")
            return self.arrived[cid]


def _handler(mes: Mes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint would

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            mes.take(body, time.perf_counter())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@contextmanager
def relaying(hub: Hub, transport: WebhookTransport | AmqpTransport) -> Iterator[None]:
    """The outbox relay to the MES in a thread, as `labgate serve` and `labgate relay run` run
    it: `RelayLoop` on the hub's bell, woken by the inbox's commit, polling every
    RELAY_INTERVAL only as the safety net; what was owed before is taken as delivered. The
    transport is closed afterwards."""
    with hub.engine.begin() as connection:
        connection.execute(update(t.outbox).values(status="delivered"))
    signer = Signer.generate("labgate-bench")
    relay = Relay(SqlOutboxStore(hub.sessions), {MES: transport}, hub.bus.deps.clock, signer)
    loop = RelayLoop(relay, hub.bell, RELAY_INTERVAL)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.stop()
        thread.join()
        transport.close()


def embedded(hub: Hub, mes: Mes, bodies: dict[str, bytes], tick: Callable[[], None]) -> list[float]:
    """Hand each envelope to the inbox in-process; seconds until the MES had each."""
    pause, took = random.Random(1), []
    for cid, body in bodies.items():
        time.sleep(pause.uniform(0, RELAY_INTERVAL))
        start = time.perf_counter()
        hub.inbox.receive(body, "embedded")
        took.append(mes.arrival(cid) - start)
        tick()
    return took


async def via_rabbitmq(hub: Hub, mes: Mes, bodies: dict[str, bytes], tick: Callable[[], None],
                       url: str, names: Topology) -> list[float]:  # fmt: skip
    """Publish each envelope to RabbitMQ, AmqpInbox consuming; the MES consumes what the relay
    publishes; seconds until the MES had each."""
    stop, pause, took = asyncio.Event(), random.Random(2), []

    async def arrived(message: AbstractIncomingMessage) -> None:
        mes.take(message.body, time.perf_counter())
        await message.ack()

    async with await aio_pika.connect_robust(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare(channel, names)
        await declare_outbound(channel, names, [MES])
        await (await channel.declare_queue(outbound_queue(names, MES), passive=True)).consume(
            arrived
        )
        exchange = await channel.get_exchange(names.inbound_exchange)
        consumer = asyncio.create_task(AmqpInbox(url, hub.inbox, names).run(stop))
        try:
            queue = await channel.declare_queue(names.inbound_queue, passive=True)
            while not (await queue.declare()).consumer_count:
                await asyncio.sleep(0.05)  # until the consumer is up
            for cid, body in bodies.items():
                await asyncio.sleep(pause.uniform(0, RELAY_INTERVAL))
                start = time.perf_counter()
                await exchange.publish(aio_pika.Message(body, delivery_mode=PERSISTENT),
                                       names.inbound_queue)  # fmt: skip
                took.append(await asyncio.to_thread(mes.arrival, cid) - start)
                tick()
        finally:
            stop.set()
            await consumer
    return took


def latency(name: str, values: list[float]) -> Figure:
    """The line for one path: p50 and p99 in milliseconds."""
    p50, p99 = (1000 * percentile(values, q) for q in (0.50, 0.99))
    return Figure(name, None, p50=p50, p99=p99)


def run_rest(label: str, url: str, reference_url: str) -> list[Figure]:
    """The REST ingest line alone (and its lean reference on `reference_url`)."""
    hub, results, lims_key = prepare(url, CLIENTS + REQUESTS)
    try:
        lims = Lims(hub, lims_key)
        return [bench_rest(label, url, lims, results[: CLIENTS + REQUESTS], reference_url)]
    finally:
        hub.close()


def run(label: str, url: str, amqp_url: str, reference_url: str) -> list[Figure]:
    """REST ingest (and its lean reference on `reference_url`), then the two latency lines."""
    hub, results, lims_key = prepare(url, CLIENTS + REQUESTS + 2 * LATENCY_SAMPLES)
    try:
        lims = Lims(hub, lims_key)
        figures = [bench_rest(label, url, lims, results[: CLIENTS + REQUESTS], reference_url)]
        later = results[CLIENTS + REQUESTS :]
        streams = {"embedded": later[:LATENCY_SAMPLES], "amqp": later[LATENCY_SAMPLES:]}
        bodies = {
            way: {f"{way}-{n}": lims.envelope(f"latency-{way}", n, r, f"{way}-{n}")
                  for n, r in enumerate(rs, 1)}
            for way, rs in streams.items()
        }  # fmt: skip
        mes = Mes()
        try:
            with Progress(transient=True) as progress:
                task = progress.add_task(f"{label}: approval to MES", total=2 * LATENCY_SAMPLES)

                def tick() -> None:
                    progress.advance(task)

                with relaying(hub, WebhookTransport({MES: mes.url})):
                    took = embedded(hub, mes, bodies["embedded"], tick)
                figures.append(latency(f"{label}.latency.embedded", took))
                names = topology(f"{label}-latency")
                with relaying(hub, AmqpTransport(amqp_url, [MES], names)):
                    took = asyncio.run(
                        via_rabbitmq(hub, mes, bodies["amqp"], tick, amqp_url, names)
                    )
                figures.append(latency(f"{label}.latency.rabbitmq", took))
        finally:
            mes.http.shutdown()
            mes.http.server_close()
    finally:
        hub.close()
    return figures
