"""One path for every message (issue 17): the same batch of signed messages, sent by REST, AMQP,
MQTT or as file packs, each into its own copy of one database, leaves the same rows in every
table, column by column. REST (group commit), AMQP (a run of prefetched deliveries) and MQTT (a
run of queued messages) go through the inbox's batched path, packs one at a time through its
one-message path. The batch takes each through every branch: in-sequence results on two
streams, a duplicate, one ahead of its turn (held, then released), two refused by their use
case (quarantined, their numbers used)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import aiomqtt
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fakes import ManualClock
from labgate.adapters.channels.amqp import AmqpInbox
from labgate.adapters.channels.mqtt import MqttInbox
from labgate.adapters.channels.pack_pickup import PackPickup
from labgate.adapters.channels.packstore import FolderPackStore
from labgate.adapters.codecs.filepack import DataFile, build_pack, csv_bytes
from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_store import verify_stored
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.envelope import build_envelope, encode
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from labgate.service.outbox.records import SEALED, content_hash
from packs import registered_lims, result
from plant import SITE, SeededPlant
from senders import consume_until, forget_mqtt_session
from streams import admin, pg_url, publish, vhost

CHANNELS = ("rest", "amqp", "mqtt", "packs")
CHANNEL_NAMES = {"packs": FolderPackStore.channel}  # as the inbox records it


@dataclass(frozen=True)
class Sent:
    """One message of the batch as the LIMS means it: its stream, number and result row."""

    stream: str
    sequence: int
    row: dict[str, Any]


BATCH = [  # in the order sent; samples S-000001 to S-000004 are registered
    Sent("results-a", 1, result("S-000001", "99.1")),
    Sent("results-b", 1, result("S-000004", "0.1", "WATER")),
    Sent("results-a", 2, result("S-000001", "0.45", "WATER")),
    Sent("results-a", 3, result("S-000002", "97.5")),  # out of specification
    Sent("results-a", 2, result("S-000001", "0.45", "WATER")),  # the same message again
    Sent("results-b", 2, result("S-000001", "White tablet", "APPEAR")),
    Sent("results-a", 5, result("S-000003", "99.0")),  # ahead of 4: held
    Sent("results-b", 3, result("S-000004", "high")),  # not a number: refused
    Sent("results-a", 4, result("S-000002", "0.2", "WATER")),  # 4, then the held 5
    Sent("results-a", 6, result("S-000003", "0.3", "NOPE")),  # an unknown test: refused
    Sent("results-a", 7, result("S-000004", "99.5")),
    Sent("results-b", 4, result("S-000003", "0.3", "WATER")),
]
DUPLICATE = 4  # BATCH[4] is BATCH[2], sent again as the very same bytes
ENDS = {"results-a": 7, "results-b": 4}  # where each stream stands once the batch is in


@dataclass(frozen=True)
class Wire:
    """The batch signed once, as envelopes and as packs: every copy sent is the same bytes."""

    envelopes: list[bytes]
    packs: list[tuple[str, bytes]]


def signed(hub: Hub, private: dict[str, Any]) -> Wire:
    """Each message as an envelope and as a pack with the same message id, correlation id,
    stream, number and time; the duplicate is the earlier message's bytes."""
    envelopes: list[bytes] = []
    packs: list[tuple[str, bytes]] = []
    now = hub.bus.deps.clock.now()
    for index, sent in enumerate(BATCH):
        if index == DUPLICATE:
            envelopes.append(envelopes[2])
            packs.append(packs[2])
            continue
        members = {"kid": "lims-1", "private_jwk": private, "sent_at": now,
                   "correlation_id": f"trace-{index}", "message_id": message_id(index)}  # fmt: skip
        row = {k: v for k, v in sent.row.items() if v is not None}
        document = build_envelope("labgate.result.v1", SITE, "lims", sent.stream, sent.sequence,
                                  row, **members)  # fmt: skip
        envelopes.append(encode(document))
        data = csv_bytes([sent.row])
        packs.append(build_pack([DataFile("results.csv", data, 1)], site=SITE, source="lims",
                                stream=sent.stream, sequence=sent.sequence, **members))  # fmt: skip
    return Wire(envelopes, packs)


def message_id(index: int) -> str:
    """A fixed UUIDv7 per message: the same in every database."""
    return f"0190a000-0000-7000-8000-{index:012d}"


def settled(hub: Hub) -> bool:
    """Every stream where the batch leaves it (the held message released, the refused ones
    passed), and the duplicate answered."""
    with hub.engine.connect() as connection:
        query = select(t.stream_positions.c.stream, t.stream_positions.c.last_sequence)
        positions = {
            s: n for s, n in connection.execute(query.where(t.stream_positions.c.source == "lims"))
        }
        duplicates = connection.scalar(
            select(t.audit_entries.c.seq).where(t.audit_entries.c.action == "inbox.duplicate")
        )
    return all(positions.get(s) == n for s, n in ENDS.items()) and duplicates is not None


# ---- the channels ----------------------------------------------------------------------------


def by_rest(hub: Hub, wire: Wire, api_key: str, tmp: Path) -> None:
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    with TestClient(create_app(hub.settings, hub)) as client:
        for raw in wire.envelopes:
            assert client.post("/api/v1/inbox", content=raw, headers=headers).status_code < 500
    assert settled(hub)


def by_amqp(hub: Hub, wire: Wire, api_key: str, tmp: Path) -> None:
    with vhost() as url:
        publish(url, wire.envelopes)
        asyncio.run(consume_until(AmqpInbox(url, hub.inbox), lambda: settled(hub)))


def by_mqtt(hub: Hub, wire: Wire, api_key: str, tmp: Path) -> None:
    prefix = f"labgate-test-{secrets.token_hex(4)}"
    worker = MqttInbox(hub.inbox, SITE, ("lims",), client_id=prefix, prefix=prefix)
    try:
        asyncio.run(consume_until(worker, lambda: True, seconds=2))  # its persistent session
        asyncio.run(_publish_mqtt(f"{prefix}/{SITE}/lims/in", wire.envelopes))  # kept for it
        asyncio.run(consume_until(worker, lambda: settled(hub)))
        assert len(worker.sizes) < len(wire.envelopes)  # taken in runs, not one by one
    finally:
        forget_mqtt_session(prefix)


async def _publish_mqtt(topic: str, bodies: list[bytes]) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"s-{secrets.token_hex(3)}") as c:
        for body in bodies:
            await c.publish(topic, body, qos=1)


def by_packs(hub: Hub, wire: Wire, api_key: str, tmp: Path) -> None:
    store = FolderPackStore(tmp / "exchange")

    async def drop() -> None:  # one at a time: a folder lists its packs by name, not arrival
        await store.prepare()
        for name, data in wire.packs:
            await store.put(name, data)
            await PackPickup(store, hub.inbox).run_once()

    asyncio.run(drop())
    assert settled(hub)


WAYS: dict[str, Callable[[Hub, Wire, str, Path], None]] = {
    "rest": by_rest, "amqp": by_amqp, "mqtt": by_mqtt, "packs": by_packs}  # fmt: skip


# ---- the databases ---------------------------------------------------------------------------


@contextmanager
def copies(url: str, tmp: Path) -> Iterator[dict[str, str]]:
    """A copy of the database at `url` for each channel (its file, or `CREATE DATABASE …
    TEMPLATE`): the same rows, ids and sequences in each."""
    if url.startswith("sqlite"):
        source = Path(url.removeprefix("sqlite:///"))
        made = {}
        for channel in CHANNELS:
            shutil.copy(source, tmp / f"{channel}.db")
            made[channel] = f"sqlite:///{tmp / f'{channel}.db'}"
        yield made
        return
    template = url.rsplit("/", 1)[1]
    names = {channel: f"labgate_test_{secrets.token_hex(6)}" for channel in CHANNELS}
    try:
        for name in names.values():
            admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield {channel: pg_url(name) for channel, name in names.items()}
    finally:
        for name in names.values():
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


Rows = dict[str, list[dict[str, Any]]]  # table name → its rows, in the order of its key


def snapshot(hub: Hub) -> Rows:
    """Every row of every table, in the order of its key; the audit trail checked first."""
    with Session(hub.engine) as session:
        assert verify_stored(session).ok  # so its hashes can be left out below
    found = {}
    with hub.engine.connect() as connection:
        for table in t.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = connection.execute(select(table).order_by(*order)).mappings()
            found[table.name] = [dict(row) for row in rows]
    return found


# What legitimately differs from one channel to another, and is normalised (nothing else is):
# - the channel's name: inbox_messages.channel, quarantine.channel, audit `after.channel`;
# - the wire form: a pack is a tar of a signed manifest (labgate.file_pack.v1) and a CSV file,
#   an envelope is JSON, so the raw bytes kept (inbox, quarantine), their SHA-256 (the inbox's
#   and audit's payload_hash, quarantine.sha256) and the inbox's `schema` differ. Each is
#   replaced by the number of the batch's message it is, so a row that kept another message's
#   bytes still differs. And a pack is refused whole, as one RecordResults (all its rows or
#   none): its refusal's audit action names that command (`refused.record_results`) where an
#   envelope's names RecordResult (`refused.record_result`); both name the same sample;
# - generated ids: each outbox row's message id is a fresh UUIDv7 (also the record id of its
#   audit entries, and inside its seal's hash: the seal is checked against its row, then
#   replaced);
# - the audit chain's hashes (hash, prev_hash, the head's), which cover all of the above: each
#   trail is verified intact first (`verify_stored`).
# Timestamps need nothing: every hub runs on a manual clock at the same instant. Correlation ids
# are the batch's own; the primary keys come out the same (each database is a copy of one).


def normalised(rows: Rows, channel: str, wire: list[bytes]) -> Rows:
    """`rows` with what differs legitimately for `channel` replaced (see above)."""
    message = {raw: f"<message {i}>" for i, raw in enumerate(wire)}
    digest = {sha256(raw).hexdigest(): f"<sha256 of message {i}>" for i, raw in enumerate(wire)}
    outbox = {r["message_id"]: f"<outbox message {n}>" for n, r in enumerate(rows["outbox"])}
    seals = {r["message_id"]: _seal(r) for r in rows["outbox"]}
    done: Rows = {name: [dict(row) for row in table] for name, table in rows.items()}
    for row in done["inbox_messages"] + done["quarantine"]:
        if row["channel"] == channel:
            row["channel"] = "<channel>"
        row["raw"] = message.get(row["raw"], row["raw"])
    for row in done["inbox_messages"]:
        row["payload_hash"] = digest.get(row["payload_hash"], row["payload_hash"])
        if row["raw"] in message.values():
            row["schema"] = "<the wire form's>"
    for row in done["quarantine"]:
        row["sha256"] = digest.get(row["sha256"], row["sha256"])
    for row in done["outbox"]:
        row["message_id"] = outbox[row["message_id"]]
    for row in done["audit_entries"]:
        _audit_entry(row, channel, digest, outbox, seals)
    for row in done["audit_head"]:
        row["hash"] = "<chain>"
    return done


def _audit_entry(row: dict[str, Any], channel: str, digest: dict[str, str],
                 outbox: dict[str, str], seals: dict[str, str]) -> None:  # fmt: skip
    row["hash"] = row["prev_hash"] = "<chain>"
    if row["action"] == SEALED:
        assert row["payload_hash"] == seals[row["record_id"]], "the seal matches its row"
        row["payload_hash"] = "<seal>"
    row["payload_hash"] = digest.get(row["payload_hash"], row["payload_hash"])
    row["record_id"] = outbox.get(row["record_id"], row["record_id"])
    if isinstance(row["after"], dict) and row["after"].get("channel") == channel:
        row["after"] = row["after"] | {"channel": "<channel>"}
    if row["action"] in ("refused.record_result", "refused.record_results"):
        row["action"] = "refused.<the wire form's command>"


def _seal(row: dict[str, Any]) -> str:
    return content_hash(row["site"], row["destination"], row["schema"], row["message_id"],
                        row["correlation_id"], row["sequence"], row["payload"])  # fmt: skip


def test_the_same_batch_gives_the_same_rows_whatever_the_channel(
    database_url: str, seeded_plant: SeededPlant, clock: ManualClock, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, token_secret=secrets.token_urlsafe(32))
    hub = bootstrap(settings, clock=ManualClock(clock.now()))
    try:
        wire = signed(hub, registered_lims(hub, 4).private)
    finally:
        hub.close()  # nothing connected: PostgreSQL copies only an idle database
    seen: dict[str, Rows] = {}
    with copies(database_url, tmp_path) as urls:
        for channel, url in urls.items():
            hub = bootstrap(settings.model_copy(update={"database_url": url}),
                            clock=ManualClock(clock.now()))  # fmt: skip
            try:
                WAYS[channel](hub, wire, seeded_plant.api_keys["lims"], tmp_path / channel)
                seen[channel] = snapshot(hub)
            finally:
                hub.close()
    rest = normalised(seen["rest"], "rest", wire.envelopes)
    assert what_became_of_the_batch(rest) == BECAME  # so that "the same" is not "all empty"
    for channel in CHANNELS[1:]:
        sent = [raw for _, raw in wire.packs] if channel == "packs" else wire.envelopes
        theirs = normalised(seen[channel], CHANNEL_NAMES.get(channel, channel), sent)
        assert differences(rest, theirs) == [], channel


def differences(ours: Rows, theirs: Rows) -> list[tuple[str, int, dict[str, Any]]]:
    """(table, row, {column: (ours, theirs)}) wherever the two differ."""
    found = []
    for table, rows in ours.items():
        if len(rows) != len(theirs[table]):
            found.append((table, -1, {"rows": (len(rows), len(theirs[table]))}))
            continue
        for number, (our, their) in enumerate(zip(rows, theirs[table], strict=True)):
            differ = {k: (v, their[k]) for k, v in our.items() if their[k] != v}
            if differ:
                found.append((table, number, differ))
    return found


BECAME = {
    "inbox": [("results-a", 1, "applied"), ("results-b", 1, "applied"),
              ("results-a", 2, "applied"), ("results-a", 3, "applied"),
              ("results-b", 2, "applied"), ("results-a", 5, "applied"),  # held, then applied
              ("results-b", 3, "quarantined"), ("results-a", 4, "applied"),
              ("results-a", 6, "quarantined"), ("results-a", 7, "applied"),
              ("results-b", 4, "applied")],
    "quarantine": ["number.malformed", "test.unknown"],
    "results": [("S-000001-R1", "99.1", True), ("S-000004-R1", "0.1", True),
                ("S-000001-R2", "0.45", True), ("S-000002-R1", "97.5", False),
                ("S-000001-R3", "White tablet", True), ("S-000002-R2", "0.2", True),
                ("S-000003-R1", "99.0", True), ("S-000004-R2", "99.5", True),
                ("S-000003-R2", "0.3", True)],
    "messages": ["inbox.duplicate", "inbox.held", "quarantine.added", "quarantine.added"],
}  # fmt: skip


def what_became_of_the_batch(rows: Rows) -> dict[str, Any]:
    """The batch's messages and results as REST left them, in order."""
    return {
        "inbox": [(r["stream"], r["sequence"], r["status"]) for r in rows["inbox_messages"]
                  if r["stream"] in ENDS],
        "quarantine": [r["reason_code"] for r in rows["quarantine"]],
        "results": [(r["code"], r["raw_value"], r["conforms"]) for r in rows["results"]],
        "messages": [r["action"] for r in rows["audit_entries"]
                     if r["action"].startswith(("inbox.", "quarantine."))],
    }  # fmt: skip
