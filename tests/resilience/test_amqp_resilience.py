"""A stream of 10,000 signed results through `labgate worker amqp`, with the worker killed, the
broker restarted or the database connections cut in the middle of it: every result is applied
exactly once, nothing is quarantined, and the audit chain verifies.

Each test has a RabbitMQ vhost and a PostgreSQL database of its own; the whole stream is
published (persistent, confirmed) before the first worker starts."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from senders import Sender, count
from streams import (
    LABGATE,
    TOPOLOGY,
    Template,
    Worker,
    cut_connections,
    database,
    depths,
    hub_on,
    message_ids,
    pg_url,
    publish,
    rabbitmqctl,
    result_envelopes,
    seed_template,
    vhost,
    wait_for,
)

pytestmark = pytest.mark.postgres

# The issue fixes 10,000; a smaller number only to iterate on the tests themselves.
RESULTS = int(os.environ.get("LABGATE_RESILIENCE_RESULTS", "10000"))
MID_STREAM = RESULTS // 5  # the failure comes once this many results are in
# Two workers splitting one stream hold and release most messages one by one: correct, not
# fast (a plant runs one consumer per stream); a thousand show the turn-taking well enough.
SHARED_STREAM = min(RESULTS, 1000)
PATIENCE = max(120.0, RESULTS * 0.1)  # seconds for the whole stream, on a slow machine


@dataclass
class Rig:
    """One test's vhost, database and published stream."""

    database: str
    amqp_url: str
    hub: Hub
    ids: list[str]
    log: Path

    def worker(self) -> Worker:
        """Start a worker on this rig."""
        return Worker.start(self.database, self.amqp_url, self.log)

    @property
    def expected(self) -> int:
        """Results published."""
        return len(self.ids)

    def applied(self) -> int:
        """Messages the inbox has applied."""
        return count(self.hub, t.inbox_messages, status="applied")

    def state(self) -> str:
        """Where the stream is, for a failure message."""
        held = count(self.hub, t.inbox_messages, status="held")
        quarantined = count(self.hub, t.quarantine)
        try:
            queues = str(depths(self.amqp_url))
        except Exception as error:  # the broker may be the thing that failed
            queues = f"unknown ({error!r})"
        return f"{self.applied()} applied, {held} held, {quarantined} quarantined, queues {queues}"


@pytest.fixture(scope="module")
def template() -> Iterator[Template]:
    with database() as name:
        yield seed_template(name, RESULTS)


@pytest.fixture
def rig(template: Template, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    published = getattr(request, "param", RESULTS)
    with vhost() as amqp_url, database(template.name) as name:
        hub = hub_on(name)
        try:
            lims = Sender(hub, "lims", "results", template.kid, template.private)
            bodies = result_envelopes(lims, template.planned[:published])
            publish(amqp_url, bodies)
            yield Rig(name, amqp_url, hub, message_ids(bodies), tmp_path / "worker.log")
        finally:
            hub.close()


def mid_stream(rig: Rig, worker: Worker) -> int:
    """Wait until a fifth of the stream is applied; how many were."""
    wait_for(
        "a fifth of the stream", lambda: rig.applied() >= MID_STREAM, PATIENCE, worker, rig.state
    )
    applied = rig.applied()
    assert applied < RESULTS, "the failure must come mid-stream"
    return applied


def to_the_end(rig: Rig, worker: Worker) -> None:
    """Wait until every message is applied and the queue is empty, then stop the worker."""
    try:
        wait_for(
            "the whole stream applied",
            lambda: (
                rig.applied() == rig.expected and depths(rig.amqp_url)[TOPOLOGY.inbound_queue] == 0
            ),
            PATIENCE,
            worker,
            rig.state,
        )
        time.sleep(1)  # the last acknowledgement reaches the broker
    finally:
        code = worker.stop()
    assert code == 0, worker.output()


def assert_exactly_once(rig: Rig) -> None:
    """Each envelope applied once, nothing quarantined or left behind, the trail intact."""
    hub = rig.hub
    with hub.engine.connect() as connection:
        analysts = list(connection.scalars(select(t.results.c.analyst)))
        inbox = list(
            connection.execute(select(t.inbox_messages.c.message_id, t.inbox_messages.c.status))
        )
        position = connection.scalar(
            select(t.stream_positions.c.last_sequence).where(
                t.stream_positions.c.source == "lims", t.stream_positions.c.stream == "results"
            )
        )
    assert len(analysts) == rig.expected
    assert set(analysts) == {f"A{n}" for n in range(1, rig.expected + 1)}  # one per envelope
    assert count(hub, t.audit_entries, action="result.recorded") == rig.expected
    assert sorted(m for m, _ in inbox) == sorted(rig.ids)
    assert {status for _, status in inbox} == {"applied"}
    assert count(hub, t.quarantine) == 0
    assert depths(rig.amqp_url) == {TOPOLOGY.inbound_queue: 0, TOPOLOGY.dead_queue: 0}
    assert position == rig.expected
    env = {**os.environ, "LABGATE_DATABASE_URL": pg_url(rig.database)}
    verify = subprocess.run(
        [LABGATE, "audit", "verify"], env=env, text=True, capture_output=True, timeout=300
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_worker_killed_mid_stream_loses_and_doubles_nothing(rig: Rig) -> None:
    first = rig.worker()
    try:
        at_kill = mid_stream(rig, first)
    finally:
        first.kill()  # kill -9: no chance to ack or roll back anything
    assert rig.applied() < RESULTS, f"the kill came too late ({at_kill} applied)"
    to_the_end(rig, rig.worker())
    assert_exactly_once(rig)


def test_a_broker_restarted_mid_stream_loses_and_doubles_nothing(rig: Rig) -> None:
    worker = rig.worker()
    try:
        mid_stream(rig, worker)
        try:
            rabbitmqctl("stop_app")  # every connection drops; queues and messages are kept
            time.sleep(3)
            assert worker.alive, worker.output()
            down = rig.applied()
        finally:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup")
        assert down < RESULTS, "the restart came too late"
    except BaseException:
        worker.stop()
        raise
    to_the_end(rig, worker)  # the same process: it reconnected on its own
    assert_exactly_once(rig)


def test_database_connections_cut_mid_stream_lose_and_double_nothing(rig: Rig) -> None:
    worker = rig.worker()
    try:
        mid_stream(rig, worker)
        cut: list[str] = []  # the state each terminated session was in
        for _ in range(100):  # a few cuts over a couple of seconds, one at least mid-transaction
            cut += cut_connections(rig.database)
            time.sleep(0.3)
            if len(cut) >= 5 and set(cut) - {"idle"}:
                break
        assert set(cut) - {"idle"}, f"no cut hit a transaction in flight: {cut}"
        assert rig.applied() < RESULTS, "the cuts came too late"
    except BaseException:
        worker.stop()
        raise
    to_the_end(rig, worker)  # the same process: it survived the cuts
    assert_exactly_once(rig)


@pytest.mark.parametrize("rig", [SHARED_STREAM], indirect=True)
def test_two_workers_on_one_stream_apply_it_once_and_in_order(rig: Rig, tmp_path: Path) -> None:
    # The broker hands the stream's deliveries to both processes in turn, so each keeps finding
    # the other's messages missing: only the stream lock in the database keeps them in order.
    workers = [rig.worker(), Worker.start(rig.database, rig.amqp_url, tmp_path / "second.log")]
    try:
        for worker in workers:
            wait_for(
                "a worker to take part",
                lambda w=worker: "consuming" in w.output(),
                60,
                worker,
                rig.state,
            )
        to_the_end(rig, workers[1])
    finally:
        codes = [worker.stop() for worker in workers]
    assert codes == [0, 0], [worker.output() for worker in workers]
    assert_exactly_once(rig)
    with rig.hub.engine.connect() as connection:
        in_order = list(connection.scalars(select(t.results.c.analyst).order_by(t.results.c.id)))
    assert in_order == [f"A{n}" for n in range(1, rig.expected + 1)]
