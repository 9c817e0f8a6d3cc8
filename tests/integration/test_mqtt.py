"""The MQTT channel against the real Mosquitto on 127.0.0.1:1883: QoS 1, persistent session,
acknowledged only after commit, so messages sent while labgate is away are not lost."""

from __future__ import annotations

import asyncio
import secrets

import aiomqtt
import pytest
from sqlalchemy import event, select

from labgate.adapters.channels.mqtt import MqttInbox
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.service.inbox.admission import Inbox
from labgate.service.inbox.incoming import Incoming
from packs import registered_lims
from plant import SITE, Plant
from senders import Sender, consume_until, count, forget_mqtt_session, register, request


@pytest.fixture
def mes(hub: Hub, plant: Plant) -> Sender:
    return Sender(hub, "mes", "ipc", "mes-1", register(hub, "mes", "mes-1"))


async def publish(topic: str, bodies: list[bytes]) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"sender-{secrets.token_hex(3)}") as c:
        for body in bodies:
            await c.publish(topic, body, qos=1)


def worker(inbox: Inbox, tag: str, site: str = SITE, sources: tuple[str, ...] = ("mes",),
           name: str = "") -> MqttInbox:  # fmt: skip
    """A worker of this test's own (its topic prefix and session), for `site`'s `sources`."""
    return MqttInbox(inbox, site, sources, client_id=f"labgate-test-{tag}{name}",
                     prefix=f"labgate-test-{tag}")  # fmt: skip


@pytest.mark.requirement("URS-TX-001", category="failure_recovery")
def test_messages_sent_while_labgate_is_away_arrive_once(hub: Hub, mes: Sender) -> None:
    tag = secrets.token_hex(4)
    topic = f"labgate-test-{tag}/{SITE}/mes/in"
    consumer = worker(hub.inbox, tag)
    first = [request(mes, f"REQ-{n}") for n in range(1, 6)]
    later = [request(mes, f"REQ-{n}") for n in range(6, 11)]

    async def main() -> None:
        await publish(topic, first)  # nobody subscribed yet: this session does not exist
        await consume_until(consumer, lambda: True, seconds=1)  # creates the persistent session
        await publish(topic, first + later)  # labgate away: the broker keeps them (QoS 1)
        await consume_until(consumer, lambda: count(hub, t.samples) == 10, seconds=20)

    asyncio.run(main())
    assert count(hub, t.inbox_messages, status="applied") == 10
    assert count(hub, t.audit_entries, action="inbox.duplicate") == 0


class Unavailable(Inbox):
    """The real inbox, with its database away: every message fails."""

    def decode(self, raw: bytes, channel: str) -> Incoming:
        raise RuntimeError("database unavailable")


@pytest.mark.requirement("URS-P11-11.10a", category="failure_recovery")
def test_a_message_not_committed_is_not_acknowledged_and_comes_back(hub: Hub, mes: Sender) -> None:
    tag = secrets.token_hex(4)
    topic = f"labgate-test-{tag}/{SITE}/mes/in"
    down = Unavailable(hub.bus, hub.uow_factory, hub.inbox.replay_window, hub.inbox.hold_timeout)
    failing, healthy = worker(down, tag), worker(hub.inbox, tag)
    bodies = [request(mes, f"REQ-{n}") for n in range(1, 4)]

    async def failing_for(seconds: float) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(failing.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task

    async def main() -> None:
        await failing_for(0.5)  # creates the persistent session
        await publish(topic, bodies)
        await failing_for(2)  # receives all three, commits none, acknowledges none
        assert count(hub, t.samples) == 0
        await consume_until(healthy, lambda: count(hub, t.samples) == 3, seconds=20)

    asyncio.run(main())
    assert count(hub, t.inbox_messages, status="applied") == 3


class Recording(Inbox):
    """The real inbox, noting what reaches it."""

    seen: list[bytes]

    def decode(self, raw: bytes, channel: str) -> Incoming:
        self.seen.append(raw)
        return super().decode(raw, channel)


def test_a_worker_takes_only_its_own_site_and_sources_on_a_shared_broker(
    hub: Hub, mes: Sender
) -> None:
    tag = secrets.token_hex(4)
    prefix = f"labgate-test-{tag}"
    mine = Recording(hub.bus, hub.uow_factory, hub.inbox.replay_window, hub.inbox.hold_timeout)
    theirs = Recording(hub.bus, hub.uow_factory, hub.inbox.replay_window, hub.inbox.hold_timeout)
    mine.seen, theirs.seen = [], []
    site_a = worker(mine, tag, SITE, ("mes",), "-a")
    site_b = worker(theirs, tag, "SITE-B", ("mes",), "-b")
    ours = request(mes, "REQ-1")
    other_site, other_source = b'{"for": "site B"}', b'{"from": "another partner"}'

    async def main() -> None:
        for consumer in (site_a, site_b):  # both persistent sessions exist before anyone sends
            await consume_until(consumer, lambda: True, seconds=1)
        await publish(f"{prefix}/SITE-B/mes/in", [other_site])
        await publish(f"{prefix}/{SITE}/lims/in", [other_source])
        await publish(f"{prefix}/{SITE}/mes/in", [ours])
        await consume_until(site_a, lambda: count(hub, t.samples) == 1, seconds=20)
        await consume_until(site_b, lambda: theirs.seen == [other_site], seconds=20)

    try:
        asyncio.run(main())
    finally:
        for name in ("-a", "-b"):
            forget_mqtt_session(f"labgate-test-{tag}{name}")
    assert mine.seen == [ours]  # neither site B's message nor another source's
    assert count(hub, t.quarantine, channel="mqtt") == 1  # site B's, refused by B's worker only


def test_an_envelope_that_disagrees_with_its_topic_is_refused_and_quarantined(
    hub: Hub, plant: Plant, mes: Sender
) -> None:
    tag = secrets.token_hex(4)
    consumer = worker(hub.inbox, tag, SITE, ("mes", "lims"))
    posing = request(mes, "REQ-1")  # signed by the MES, published on the LIMS's topic

    async def main() -> None:
        await consume_until(consumer, lambda: True, seconds=1)
        await publish(f"labgate-test-{tag}/{SITE}/lims/in", [posing])
        await consume_until(consumer, lambda: count(hub, t.quarantine) == 1, seconds=20)

    try:
        asyncio.run(main())
        with hub.engine.connect() as connection:
            row = connection.execute(select(t.quarantine)).mappings().one()
        assert (row["reason_code"], row["field"], row["raw"]) == (
            "channel.route_mismatch", "source", posing)  # fmt: skip
        assert count(hub, t.samples) == 0
        assert count(hub, t.audit_entries, action="quarantine.added") == 1
        # Not taken in: the MES sends that number again, on its own topic, and it is applied.
        asyncio.run(again(consumer, tag, posing, hub))
    finally:
        forget_mqtt_session(f"labgate-test-{tag}")


async def again(consumer: MqttInbox, tag: str, posing: bytes, hub: Hub) -> None:
    await publish(f"labgate-test-{tag}/{SITE}/mes/in", [posing])
    await consume_until(consumer, lambda: count(hub, t.samples) == 1, seconds=20)


class Crashing(Inbox):
    """The real inbox, except that one message always crashes processing (not a refusal)."""

    def decode(self, raw: bytes, channel: str) -> Incoming:
        if b"CRASH" in raw:
            raise RuntimeError("processing crashed")
        return super().decode(raw, channel)


def results_worker(hub: Hub, inbox: Inbox) -> tuple[Sender, MqttInbox, str]:
    """The LIMS reporting on S-000001 to S-000008, a worker of its results, and their topic."""
    tag = secrets.token_hex(4)
    lims = Sender(hub, "lims", "results", "lims-1", registered_lims(hub, 8).private)
    return lims, worker(inbox, tag, SITE, ("lims",)), f"labgate-test-{tag}/{SITE}/lims/in"


def result(lims: Sender, sample: int, value: str, **extra: str) -> bytes:
    payload = {
        "sample": f"S-{sample:06d}",
        "test_code": "ASSAY",
        "value": value,
        "unit": "%",
        "method_version": "1",
        "analyst": "analyst",
        "lims_status": "preliminary",
    }
    return lims.envelope("labgate.result.v1", payload | extra)


def damaged(raw: bytes) -> bytes:
    """A copy changed after signing."""
    return raw.replace(b'"value":"99.', b'"value":"98.')


def applied(hub: Hub) -> dict[int, str]:
    m = t.inbox_messages.c
    with hub.engine.connect() as connection:
        query = select(m.sequence, m.status).where(m.stream == "results")
        return {int(n): str(s) for n, s in connection.execute(query)}


def test_messages_published_together_go_in_runs_and_a_poisoned_one_is_refused_alone(
    hub: Hub, plant: Plant
) -> None:
    lims, consumer, topic = results_worker(hub, hub.inbox)
    bodies = [result(lims, n, f"99.{n}") for n in range(1, 9)]
    poisoned = damaged(bodies[4])
    assert poisoned != bodies[4]
    commits: list[int] = []

    async def main() -> None:
        await consume_until(consumer, lambda: True, seconds=1)  # its persistent session
        event.listen(hub.engine, "commit", lambda _: commits.append(1))
        await publish(topic, [*bodies[:4], poisoned, *bodies[4:]])
        await consume_until(consumer, lambda: len(applied(hub)) == 8, seconds=20)

    try:
        asyncio.run(main())
        ran = consumer.sizes
        # The same session again: what was acknowledged does not come back.
        asyncio.run(consume_until(consumer, lambda: True, seconds=1))
    finally:
        forget_mqtt_session(consumer.client_id)
    assert sum(ran) == 9 and len(ran) < 9  # published together, received in runs
    assert len(commits) < 9  # one by one: a commit each, and more
    assert applied(hub) == dict.fromkeys(range(1, 9), "applied")
    with hub.engine.connect() as connection:
        reasons = list(connection.scalars(select(t.quarantine.c.reason_code)))
    assert reasons == ["envelope.bad_signature"]  # the poisoned copy alone
    assert consumer.sizes == ran  # nothing redelivered
    assert count(hub, t.audit_entries, action="inbox.duplicate") == 0


@pytest.mark.requirement("URS-TX-004", category="failure_recovery")
def test_a_message_that_crashes_in_a_run_alone_stays_unacknowledged(hub: Hub, plant: Plant) -> None:
    crashing = Crashing(hub.bus, hub.uow_factory, hub.inbox.replay_window,
                        hub.inbox.hold_timeout)  # fmt: skip
    lims, consumer, topic = results_worker(hub, crashing)
    bodies = [result(lims, n, f"99.{n}") for n in range(1, 4)]
    crash = result(lims, 4, "99.4", analyst="CRASH")

    async def main() -> None:
        await consume_until(consumer, lambda: True, seconds=1)  # its persistent session
        await publish(topic, [*bodies, crash])
        await consume_until(consumer, lambda: len(applied(hub)) == 3, seconds=20)

    try:
        asyncio.run(main())
        ran = list(consumer.sizes)
        # The same session again: only the message that crashed comes back.
        asyncio.run(consume_until(consumer, lambda: len(consumer.sizes) > len(ran), seconds=20))
    finally:
        forget_mqtt_session(consumer.client_id)
    assert sum(ran) == 4
    assert consumer.sizes[len(ran) :] == [1]
    assert applied(hub) == dict.fromkeys(range(1, 4), "applied")
    assert count(hub, t.audit_entries, action="inbox.duplicate") == 0
