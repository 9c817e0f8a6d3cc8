"""A run of envelopes received as a batch ends exactly as if each had been received alone —
applied, duplicate, held then applied, quarantined with the same reason — in far fewer commits."""

from __future__ import annotations

import contextlib
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, select

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.envelope import generate_keypair
from labgate.config import Settings
from labgate.domain.commands import Context
from labgate.domain.interface_commands import RegisterSourceKey
from labgate.entrypoints.app import create_app
from labgate.service.inbox.admission import ReceiptRefused
from labgate.service.inbox.batch import receive_batch
from plant import Plant, seed
from senders import Sender, request

KEYS = {name: generate_keypair() for name in ("mes", "lims")}  # (private, public) per source


def samples(hub: Hub, count: int) -> tuple[Sender, Sender]:
    """Both sources' keys registered, `count` samples requested and registered."""
    since = hub.bus.deps.clock.now() - timedelta(days=1)
    for source, (_, public) in KEYS.items():
        hub.bus.handle(RegisterSourceKey(Context("admin"), source, f"{source}-1", public, since,
                                         None, "CR-7: a partner's signing key"))  # fmt: skip
    mes = Sender(hub, "mes", "requests", "mes-1", KEYS["mes"][0])
    lims = Sender(hub, "lims", "results", "lims-1", KEYS["lims"][0])
    registrations = Sender(hub, "lims", "registrations", "lims-1", KEYS["lims"][0])
    for n in range(1, count + 1):
        mes.send(request(mes, f"REQ-{n}"))
        registration = {"sample": f"S-{n:06d}"}
        registrations.send(registrations.envelope("labgate.sample_registration.v1", registration))
    return mes, lims


def result(lims: Sender, sample: int, test: str = "ASSAY", value: str = "99.1") -> bytes:
    payload = {
        "sample": f"S-{sample:06d}",
        "test_code": test,
        "value": value,
        "unit": "%",
        "method_version": "1",
        "analyst": "analyst",
        "lims_status": "preliminary",
    }
    return lims.envelope("labgate.result.v1", payload)


def state(hub: Hub) -> dict[str, Any]:
    """What a user of the hub can see of the messages' effects."""
    with hub.engine.connect() as connection:

        def rows(query: Any) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in connection.execute(query)]

        return {
            "results": rows(select(t.results.c.code, t.results.c.test_code, t.results.c.raw_value)
                            .order_by(t.results.c.id)),
            "inbox": rows(select(t.inbox_messages.c.stream, t.inbox_messages.c.sequence,
                                 t.inbox_messages.c.status, t.inbox_messages.c.correlation_id)
                          .order_by(t.inbox_messages.c.stream, t.inbox_messages.c.sequence)),
            "quarantine": rows(select(t.quarantine.c.reason_code, t.quarantine.c.field)
                               .order_by(t.quarantine.c.id)),
            "outbox": rows(select(t.outbox.c.schema, t.outbox.c.correlation_id)
                           .order_by(t.outbox.c.id)),
            "trail": rows(select(t.audit_entries.c.action, t.audit_entries.c.correlation_id)
                          .order_by(t.audit_entries.c.seq)),
        }  # fmt: skip


def a_messy_run(mes: Sender, lims: Sender) -> list[bytes]:
    """In-order results, a duplicate, a gap filled later, a forged one, an unknown test, a
    sample request from another source in between."""
    first = [result(lims, n) for n in (1, 2, 3)]
    stranger = Sender(lims.hub, "lims", "results", "lims-x", generate_keypair()[0])
    forged = result(stranger, 4)
    unknown = result(lims, 4, "NOPE")
    late, early = result(lims, 5), result(lims, 6, "WATER", "0.2")
    between = request(mes, "REQ-X")
    return [
        *first,
        first[1],
        forged,
        unknown,
        early,
        between,
        late,
        result(lims, 1, "WATER", "0.1"),
    ]


def one_by_one(hub: Hub, raws: list[bytes]) -> None:
    for raw in raws:
        with contextlib.suppress(ReceiptRefused):
            hub.inbox.receive(raw, "amqp")


def test_a_batch_ends_as_one_by_one_would(hub: Hub, plant: Plant) -> None:
    mes, lims = samples(hub, 6)
    raws = a_messy_run(mes, lims)
    before = state(hub)
    outcomes = receive_batch(hub.inbox, raws, "amqp")
    batched = state(hub)
    assert [type(o).__name__ if isinstance(o, ReceiptRefused) else o.status for o in outcomes] == [
        "applied", "applied", "applied", "duplicate", "ReceiptRefused", "ReceiptRefused",
        "held", "applied", "applied", "applied"]  # fmt: skip
    assert [q[0] for q in batched["quarantine"][len(before["quarantine"]):]] == [
        "envelope.unknown_key", "test.unknown"]  # fmt: skip
    assert batched["results"][-6:] == [
        ("S-000001-R1", "ASSAY", "99.1"), ("S-000002-R1", "ASSAY", "99.1"),
        ("S-000003-R1", "ASSAY", "99.1"), ("S-000005-R1", "ASSAY", "99.1"),
        ("S-000006-R1", "WATER", "0.2"), ("S-000001-R2", "WATER", "0.1")]  # fmt: skip


def test_a_batch_and_one_by_one_leave_the_same_records(
    hub: Hub, plant: Plant, tmp_path: Path, clock: ManualClock
) -> None:
    """The same envelopes into two hubs alike: one receives them as a batch, one by one."""
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    upgrade(url)
    settings = Settings(database_url=url, token_secret=secrets.token_urlsafe(32))
    twin = bootstrap(settings, clock=ManualClock(clock.now()))
    try:
        with TestClient(create_app(settings, twin)) as client:
            seed(twin, client)
            mes, lims = samples(hub, 6)
            samples(twin, 6)
            raws = a_messy_run(mes, lims)
            receive_batch(hub.inbox, raws, "amqp")
            one_by_one(twin, raws)
            ours, theirs = state(hub), state(twin)
            for part in ours:
                assert theirs[part] == ours[part], part
    finally:
        twin.close()


def test_in_order_results_go_in_one_transaction_each_settled_as_its_own_message(
    hub: Hub, plant: Plant
) -> None:
    _, lims = samples(hub, 40)
    raws = [result(lims, n) for n in range(1, 41)]
    commits: list[int] = []
    event.listen(hub.engine, "commit", lambda _: commits.append(1))
    outcomes = receive_batch(hub.inbox, raws, "amqp")
    assert {o.status for o in outcomes if not isinstance(o, ReceiptRefused)} == {"applied"}
    assert len(outcomes) == 40 and len(commits) <= 3  # one-by-one: 40 and more
    after = state(hub)
    inbox = [row for row in after["inbox"] if row[0] == "results"]
    assert [(r[1], r[2], r[3]) for r in inbox] == [
        (n, "applied", f"trace-{n}") for n in range(1, 41)
    ]
    recorded = [c for action, c in after["trail"] if action == "result.recorded"]
    assert recorded == [f"trace-{n}" for n in range(1, 41)]
