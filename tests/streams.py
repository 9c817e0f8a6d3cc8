"""Long streams of signed results through the real RabbitMQ into a real PostgreSQL database.

Each test gets a vhost and a database of its own. Seeding the plant and thousands of registered
samples through the bus takes a while, so it is done once into a template database that each
test clones (`CREATE DATABASE ... TEMPLATE`, a file copy)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aio_pika
import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import select

from labgate.adapters.channels.amqp import Topology, declare
from labgate.adapters.store import tables as t
from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.domain import commands as c
from labgate.entrypoints.app import create_app
from plant import SITE, seed
from senders import AMQP_URL, Sender, register

PG_ADMIN = os.environ.get("LABGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
LABGATE = str(Path(sys.executable).parent / "labgate")
WORKER_APP = "labgate-worker"  # the application_name of the worker's PostgreSQL sessions
SAMPLED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
WIDE_FROM = datetime(2026, 1, 1, tzinfo=UTC)  # the wide specification is in force from
# A wide product: fifty tests on one specification, so 10,000 results need only 200 samples
# (each sample plans every test once), and seeding takes seconds rather than minutes.
WIDE = [f"W{n:02d}" for n in range(1, 51)]
WIDE_PLANT: dict[str, Any] = {
    "site": {"code": SITE, "name": "Test plant"},
    "tests": [
        {"code": code, "name": f"Impurity {code}", "unit": "%", "method": "M-KF",
         "method_version": "1", "value_kind": "numeric"}
        for code in WIDE
    ],
    "specifications": [
        {"code": "SPEC-W", "versions": [
            {"version": 1, "limits": [{"test": code, "limit": "NMT 0.5"} for code in WIDE]},
        ]},
    ],
    "products": [{"code": "PW", "name": "Wide tablet", "specification": "SPEC-W"}],
    "characteristics": [{"code": f"C-{code}", "name": f"Impurity {code}"} for code in WIDE],
    "mappings": [{"characteristic": f"C-{code}", "test": code, "sampling_point": None}
                 for code in WIDE],
    "procedures": [
        {"code": "PROCW", "product": "PW", "elements": [
            {"path": "PROCW", "level": "procedure", "name": "Wide manufacture"},
            {"path": "PROCW/UP1", "level": "unit_procedure", "name": "Compression"},
            {"path": "PROCW/UP1/OP1", "level": "operation", "name": "Compress"},
            {"path": "PROCW/UP1/OP1/PH1", "level": "phase", "name": "Sample tablets"},
        ], "sampling_points": [
            {"code": "SP-W", "phase": "PROCW/UP1/OP1/PH1", "sample_type": "release"}]},
    ],
    "batches": [{"code": "BW", "product": "PW", "procedure": "PROCW",
                 "started_at": "2026-11-01T08:00:00+00:00"}],
}  # fmt: skip
# A conforming value for each test of the wide specification.
VALUES: dict[str, tuple[str, str | None]] = {code: ("0.2", "%") for code in WIDE}
TOPOLOGY = Topology()  # what `labgate worker amqp` declares, in the test's own vhost


# ---- PostgreSQL -------------------------------------------------------------------------------


def pg_url(database: str, application_name: str | None = None) -> str:
    """The SQLAlchemy URL of a database on the test server."""
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    suffix = f"?application_name={application_name}" if application_name else ""
    return f"{base}/{database}{suffix}"


def admin(sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Run one statement as the server's administrator, outside any transaction."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        cursor = connection.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


@contextmanager
def database(template: str | None = None) -> Iterator[str]:
    """A new database (a copy of `template` if given), dropped afterwards."""
    name = f"labgate_test_{secrets.token_hex(6)}"
    admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield name
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cut_connections(database_name: str, application_name: str = WORKER_APP) -> list[str]:
    """Terminate one program's sessions on a database; the state each one was in (`active`,
    `idle in transaction`: a transaction in flight; `idle`: between transactions)."""
    rows = admin(
        "SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()",
        database_name,
        application_name,
    )
    return [str(state) for state, _ in rows]


@dataclass(frozen=True)
class Template:
    """A seeded database to clone: the plant, registered samples, and the LIMS's signing key."""

    name: str
    planned: list[tuple[str, str, str]]  # (sample, test code, method version): one result each
    kid: str
    private: dict[str, Any]


def hub_on(database_name: str) -> Hub:
    """A hub on a test database, on the real clock (the worker's clock)."""
    settings = Settings(database_url=pg_url(database_name), token_secret=secrets.token_urlsafe(32))
    return bootstrap(settings)


def seed_template(name: str, results: int) -> Template:
    """Migrate `name`, seed the plant and enough registered samples for `results` results."""
    upgrade(pg_url(name))
    hub = hub_on(name)
    try:
        plant = seed(hub, TestClient(create_app(hub.settings, hub)))
        hub.bus.handle(c.ImportMasterData(c.Context("admin"), WIDE_PLANT, "CR-2: wide product"))
        qa = c.SignatureInput("qa", plant.passwords["qa"], "approved")
        hub.bus.handle(c.ApproveSpecVersion(c.Context("qa"), SITE, "SPEC-W", 1, qa))
        hub.bus.handle(c.MakeSpecVersionEffective(c.Context("qa"), SITE, "SPEC-W", 1,
                                                  WIDE_FROM, "CR-2: in force"))  # fmt: skip
        private = register(hub, "lims", "lims-1")
        samples = -(-results // len(VALUES))  # every sample plans each test of the spec once
        # One sample per transaction through the bus; a few at a time overlap their round trips.
        with ThreadPoolExecutor(4) as pool:
            planned = [p for tests in pool.map(_registered_sample, [hub] * samples) for p in tests]
        assert len(planned) >= results, "each sample should plan every test of the spec"
        return Template(name, planned[:results], "lims-1", private)
    finally:
        hub.close()


def _registered_sample(hub: Hub) -> list[tuple[str, str, str]]:
    request = c.RequestSample(
        c.Context("lims", "system"),
        SITE,
        None,
        "PW",
        SAMPLED_AT,
        batch="BW",
        sampling_point="SP-W",
        register_now=True,
    )
    sample = hub.bus.handle(request)
    query = (
        select(t.planned_tests.c.test_code, t.planned_tests.c.method_version)
        .join(t.samples, t.samples.c.id == t.planned_tests.c.sample_id)
        .where(t.samples.c.code == sample)
        .order_by(t.planned_tests.c.id)
    )
    with hub.engine.connect() as connection:
        return [(sample, test, version) for test, version in connection.execute(query)]


# ---- the stream -------------------------------------------------------------------------------


def result_envelopes(lims: Sender, planned: list[tuple[str, str, str]]) -> list[bytes]:
    """One preliminary result per planned test, sequences 1..n on the sender's stream; the
    analyst is `A<sequence>`, so every result in the database names the envelope it came from."""
    bodies = []
    for sample, test, version in planned:
        value, unit = VALUES[test]
        payload = {
            "sample": sample,
            "test_code": test,
            "value": value,
            "unit": unit,
            "method_version": version,
            "analyst": f"A{lims.sequence + 1}",
            "lims_status": "preliminary",
        }
        bodies.append(lims.envelope("labgate.result.v1", payload))
    return bodies


def message_ids(bodies: list[bytes]) -> list[str]:
    """The message id of each envelope."""
    return [json.loads(body)["message_id"] for body in bodies]


# ---- RabbitMQ ---------------------------------------------------------------------------------


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl on the local node; its output."""
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@contextmanager
def vhost() -> Iterator[str]:
    """A RabbitMQ vhost of its own, for guest; deleted afterwards with everything in it."""
    name = f"labgate-test-{secrets.token_hex(4)}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield AMQP_URL.rsplit("/", 1)[0] + "/" + quote(name, safe="")
    finally:
        rabbitmqctl("delete_vhost", name)


async def _publish(url: str, bodies: list[bytes], window: int) -> None:
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare(channel, TOPOLOGY)
        exchange = await channel.get_exchange(TOPOLOGY.inbound_exchange)
        for start in range(0, len(bodies), window):
            # Confirms are awaited a window at a time; the channel's lock keeps publish order.
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=TOPOLOGY.inbound_queue,
                    )
                    for body in bodies[start : start + window]
                )
            )


def publish(url: str, bodies: list[bytes], window: int = 500) -> None:
    """Declare labgate's topology and publish persistent messages; returns once all confirmed."""
    asyncio.run(_publish(url, bodies, window))


async def _depths(url: str) -> dict[str, int]:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        depths = {}
        for name in (TOPOLOGY.inbound_queue, TOPOLOGY.dead_queue):
            queue = await channel.declare_queue(name, passive=True)
            depths[name] = int(queue.declaration_result.message_count or 0)
        return depths


def depths(url: str) -> dict[str, int]:
    """Messages ready for delivery on the inbound and the dead-letter queue."""
    return asyncio.run(_depths(url))


# ---- the worker -------------------------------------------------------------------------------


@dataclass
class Worker:
    """`labgate worker amqp` as a separate process, its output in a file."""

    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, database_name: str, amqp_url: str, log: Path) -> Worker:
        """Start a worker on the database and vhost."""
        env = {
            **os.environ,
            "LABGATE_DATABASE_URL": pg_url(database_name, WORKER_APP),
            "LABGATE_AMQP_URL": amqp_url,
            # The whole stream is published before the worker starts, so its last message
            # waits for every one before it: longer than the default 300 s replay window.
            "LABGATE_REPLAY_WINDOW_SECONDS": "3600",
        }
        with log.open("ab") as out:
            process = subprocess.Popen(
                [LABGATE, "worker", "amqp"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        return cls(process, log)

    @property
    def alive(self) -> bool:
        """Still running."""
        return self.process.poll() is None

    def kill(self) -> None:
        """kill -9, and reap it."""
        if self.alive:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM, then wait; its exit code (killed after 30 s if it does not stop)."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_for(
    what: str,
    done: Callable[[], bool],
    seconds: float,
    worker: Worker,
    state: Callable[[], str] = lambda: "",
) -> float:
    """Poll `done` until it holds; fail after `seconds`, or at once if the worker died, saying
    `state()` and what the worker printed. The time it took."""
    start = time.monotonic()
    while not done():
        late = time.monotonic() - start > seconds
        if late or not worker.alive:
            why = f"not within {seconds} s" if late else "the worker exited"
            raise AssertionError(f"{what}: {why}; {state()}\n{worker.output()[-5000:]}")
        time.sleep(0.25)
    return time.monotonic() - start
