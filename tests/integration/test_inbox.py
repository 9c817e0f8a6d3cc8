"""Signed envelopes through the inbox on the real store: nothing lost, nothing applied twice,
every refusal quarantined with its raw bytes and audited."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.compliance.envelope import generate_keypair
from labgate.domain.commands import Context, ImportMasterData, RequestSample
from labgate.domain.interface_commands import RegisterSourceKey, RevokeSourceKey
from labgate.entrypoints.api import inbox_group
from labgate.service import messagebus
from labgate.service.inbox.admission import Inbox, Receipt, ReceiptRefused
from plant import SITE, Plant
from senders import Sender, register, request


def count(hub: Hub, table: Any) -> int:
    with hub.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def quarantined(hub: Hub, raw: bytes, send: Any) -> dict[str, Any]:
    with pytest.raises(ReceiptRefused) as refused:
        send(raw)
    with hub.engine.connect() as connection:
        row = (
            connection.execute(
                select(t.quarantine).where(t.quarantine.c.id == refused.value.quarantine_id)
            )
            .mappings()
            .one()
        )
    assert row["raw"] == raw
    assert row["sha256"] == hashlib.sha256(raw).hexdigest()
    assert row["reason_code"] == refused.value.reason
    return dict(row)


def audit_actions(hub: Hub) -> list[str]:
    with hub.engine.connect() as connection:
        return list(
            connection.scalars(select(t.audit_entries.c.action).order_by(t.audit_entries.c.seq))
        )


def test_a_signed_request_is_applied_with_its_inbox_record_in_one_transaction(
    hub: Hub, mes: Sender
) -> None:
    raw = request(mes, "REQ-1")
    receipt = mes.send(raw)
    assert (receipt.status, receipt.outcome) == ("applied", "S-000001")
    with hub.engine.connect() as connection:
        inbox = connection.execute(select(t.inbox_messages)).mappings().one()
        entry = (
            connection.execute(
                select(t.audit_entries).where(t.audit_entries.c.action == "sample.requested")
            )
            .mappings()
            .one()
        )
    assert (inbox["status"], inbox["sequence"], inbox["raw"]) == ("applied", 1, raw)
    assert entry["payload_hash"] == hashlib.sha256(raw).hexdigest()
    assert entry["correlation_id"] == "trace-1"


@pytest.mark.requirement("URS-TX-010", "URS-A11-5", category="negative")
def test_a_duplicate_is_acknowledged_audited_and_changes_nothing(hub: Hub, mes: Sender) -> None:
    raw = request(mes, "REQ-1")
    mes.send(raw)
    samples, outbox = count(hub, t.samples), count(hub, t.outbox)
    assert mes.send(raw).status == "duplicate"
    assert (count(hub, t.samples), count(hub, t.outbox)) == (samples, outbox)
    assert audit_actions(hub)[-1] == "inbox.duplicate"


@pytest.mark.requirement("URS-TX-010", "URS-P11-11.10f", category="boundary")
def test_out_of_order_messages_wait_and_are_applied_in_order(hub: Hub, mes: Sender) -> None:
    first, second, third = (request(mes, f"REQ-{n}") for n in (1, 2, 3))
    assert mes.send(third).status == "held"
    assert mes.send(second).status == "held"
    assert count(hub, t.samples) == 0
    assert mes.send(first).status == "applied"
    with hub.engine.connect() as connection:
        made = connection.execute(
            select(t.samples.c.code, t.samples.c.mes_request_id).order_by(t.samples.c.id)
        ).all()
        statuses = set(connection.scalars(select(t.inbox_messages.c.status)))
    assert [tuple(r) for r in made] == [
        ("S-000001", "REQ-1"),
        ("S-000002", "REQ-2"),
        ("S-000003", "REQ-3"),
    ]
    assert statuses == {"applied"}


def test_the_inbox_admits_in_the_transaction_and_a_use_case_runs_only_in_its_turn(
    hub: Hub, mes: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The inbox decides each message's turn itself, in the transaction it opens: a message
    # ahead of a gap or a duplicate never reaches its use case (none runs to find out).
    calls: list[str] = []
    handler = messagebus.HANDLERS[RequestSample]

    def counted(cmd: RequestSample, uow: Any, deps: Any) -> Any:
        calls.append(cmd.mes_request_id)
        return handler(cmd, uow, deps)

    monkeypatch.setitem(messagebus.HANDLERS, RequestSample, counted)
    first, second = request(mes, "REQ-1"), request(mes, "REQ-2")
    assert mes.send(second).status == "held"
    assert calls == []
    assert mes.send(first).status == "applied"  # and the held one after it
    assert mes.send(first).status == "duplicate"
    assert calls == ["REQ-1", "REQ-2"]


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda raw: raw.replace(b"REQ-1", b"REQ-9"), "envelope.bad_signature"),
        (lambda raw: raw[:-2], "envelope.malformed"),
        (lambda raw: b"\xff\xfe not json", "envelope.malformed"),
    ],
    ids=["tampered payload", "truncated", "not json"],
)
@pytest.mark.requirement("URS-TX-009", "URS-P11-11.10a", "URS-A11-13", category="negative")
def test_damaged_messages_are_quarantined(hub: Hub, mes: Sender, spoil: Any, reason: str) -> None:
    row = quarantined(hub, spoil(request(mes, "REQ-1")), mes.send)
    assert row["reason_code"] == reason
    assert count(hub, t.samples) == 0
    assert audit_actions(hub)[-1] == "quarantine.added"


def test_unknown_and_revoked_keys_are_refused(hub: Hub, mes: Sender) -> None:
    stranger = Sender(hub, "mes", "requests", "mes-x", generate_keypair()[0])
    assert quarantined(hub, request(stranger, "REQ-1"), mes.send)["reason_code"] == (
        "envelope.unknown_key"
    )
    hub.bus.handle(RevokeSourceKey(Context("admin"), "mes", "mes-1", "key leaked"))
    assert quarantined(hub, request(mes, "REQ-2"), mes.send)["reason_code"] == (
        "envelope.revoked_key"
    )


@pytest.mark.requirement("URS-P11-11.10h")
def test_rotation_overlap_accepts_both_keys(hub: Hub, mes: Sender) -> None:
    successor = Sender(hub, "mes", "requests", "mes-2", register(hub, "mes", "mes-2"))
    assert mes.send(request(mes, "REQ-1")).status == "applied"
    successor.sequence = mes.sequence
    assert successor.send(request(successor, "REQ-2")).status == "applied"


def test_a_sent_at_ahead_of_the_clock_is_refused_and_its_number_stays_free(
    hub: Hub, mes: Sender, clock: ManualClock
) -> None:
    ahead = request(mes, "REQ-1", sent_at=clock.now() + timedelta(minutes=6))
    row = quarantined(hub, ahead, mes.send)
    assert (row["reason_code"], row["field"]) == ("envelope.replay_window", "sent_at")
    # Refused before the inbox: the sender sends that sequence again with its clock put right.
    assert mes.send(request(mes, "REQ-1", sequence=1)).status == "applied"


def test_late_messages_are_judged_by_the_inbox_and_the_sequence_not_the_window(
    hub: Hub, mes: Sender, clock: ManualClock
) -> None:
    first = request(mes, "REQ-1")
    assert mes.send(first).status == "applied"
    clock.advance(hours=2)
    assert mes.send(first).status == "duplicate"  # a verbatim re-send, however late
    old = request(mes, "REQ-2", sent_at=clock.now() - timedelta(hours=1))
    assert mes.send(old).status == "applied"  # next on its stream, however long it took
    stale = request(mes, "REQ-9", sequence=2, sent_at=clock.now() - timedelta(hours=1))
    assert quarantined(hub, stale, mes.send)["reason_code"] == "sequence.stale"


def test_schema_drift_is_refused_with_the_field(hub: Hub, lims: Sender, mes: Sender) -> None:
    mes.send(request(mes, "REQ-1"))
    payload = {
        "sample": "S-000001",
        "test_code": "ASSAY",
        "value": "99.1",
        "unit": "%",
        "method_version": "1",
        "analyst": "analyst",
        "lims_status": "preliminary",
        "instrument": "HPLC-7",
    }
    row = quarantined(hub, lims.envelope("labgate.result.v1", payload), lims.send)
    assert (row["reason_code"], row["field"]) == ("envelope.schema_violation", "payload.instrument")


@pytest.mark.requirement("URS-TX-009", "URS-A11-13", category="failure_recovery")
def test_a_business_refusal_is_quarantined_and_the_stream_moves_on(
    hub: Hub, mes: Sender, lims: Sender
) -> None:
    mes.send(request(mes, "REQ-1"))
    lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": "S-000001"}))
    bad = {
        "sample": "S-000001",
        "test_code": "NOPE",
        "value": "1",
        "unit": "%",
        "method_version": "1",
        "analyst": "analyst",
        "lims_status": "preliminary",
    }
    assert quarantined(hub, lims.envelope("labgate.result.v1", bad), lims.send)["reason_code"] == (
        "test.unknown"
    )
    good = {**bad, "test_code": "ASSAY", "value": "99.2"}
    assert lims.send(lims.envelope("labgate.result.v1", good)).status == "applied"
    assert lims.send(lims.sent[-2]).status == "duplicate"  # the refused one, sent again


@pytest.mark.requirement("URS-TX-009", category="boundary")
def test_a_message_waiting_too_long_for_its_gap_is_quarantined(
    hub: Hub, mes: Sender, clock: ManualClock
) -> None:
    request(mes, "REQ-1")  # never arrives
    assert mes.send(request(mes, "REQ-2")).status == "held"
    clock.advance(seconds=hub.settings.hold_timeout_seconds + 1)
    [item] = hub.inbox.expire_held()
    with hub.engine.connect() as connection:
        reason = connection.scalar(
            select(t.quarantine.c.reason_code).where(t.quarantine.c.id == item)
        )
    assert reason == "sequence.gap_timeout"


def test_a_message_quarantined_for_its_gap_stays_there_when_its_turn_comes(
    hub: Hub, mes: Sender, clock: ManualClock
) -> None:
    # Next on its stream once the gap fills, but quarantined: only a person reprocesses it.
    hub.inbox.hold_timeout = timedelta(seconds=10)
    late = request(mes, "REQ-2", sequence=2)
    assert mes.send(late).status == "held"
    clock.advance(seconds=11)
    [item] = hub.inbox.expire_held()
    assert mes.send(request(mes, "REQ-1", sequence=1)).status == "applied"
    assert mes.send(late).status == "duplicate"
    with hub.engine.connect() as connection:
        made = list(connection.scalars(select(t.samples.c.mes_request_id)))
        kept = connection.scalar(select(t.quarantine.c.status).where(t.quarantine.c.id == item))
    assert made == ["REQ-1"]
    assert kept == "open"
    # It was taken in, so it used its number: the stream goes on past it at once.
    assert mes.send(request(mes, "REQ-3", sequence=3)).status == "applied"


def test_a_business_refusal_uses_its_number_and_lets_the_held_ones_go(
    hub: Hub, mes: Sender, lims: Sender
) -> None:
    mes.send(request(mes, "REQ-1"))
    lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": "S-000001"}))
    base = {"sample": "S-000001", "unit": "%", "method_version": "1", "analyst": "analyst",
            "lims_status": "preliminary"}  # fmt: skip
    bad = lims.envelope("labgate.result.v1", {**base, "test_code": "NOPE", "value": "1"})
    after = lims.envelope("labgate.result.v1", {**base, "test_code": "ASSAY", "value": "99.2"})
    assert lims.send(after).status == "held"
    assert quarantined(hub, bad, lims.send)["reason_code"] == "test.unknown"
    with hub.engine.connect() as connection:
        statuses = dict(connection.execute(
            select(t.inbox_messages.c.sequence, t.inbox_messages.c.status)
            .where(t.inbox_messages.c.source == "lims")
        ).all())  # fmt: skip
    assert statuses == {1: "applied", 2: "quarantined", 3: "applied"}  # not left to time out


def test_the_rest_channel_answers_per_outcome(plant: Plant, mes: Sender) -> None:
    raw = request(mes, "REQ-1")
    headers = {"X-API-Key": plant.api_keys["mes"], "Content-Type": "application/json"}
    applied = plant.client.post("/api/v1/inbox", content=raw, headers=headers)
    assert (applied.status_code, applied.json()["status"]) == (200, "applied")
    again = plant.client.post("/api/v1/inbox", content=raw, headers=headers)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    headers["X-API-Key"] = plant.api_keys["lims"]  # signed in as the LIMS, claiming to be the MES
    refused = plant.client.post("/api/v1/inbox", content=request(mes, "REQ-2"), headers=headers)
    assert refused.status_code == 403
    assert refused.json()["reason"] == "envelope.source_mismatch"
    item = refused.headers["X-Quarantine-Id"]
    assert refused.headers["X-Sequence"] == "free"  # refused before the inbox: send it again
    shown = plant.call("auditor", "GET", f"/api/v1/quarantine/{item}").json()
    assert json.loads(shown["raw_text"])["payload"]["mes_request_id"] == "REQ-2"


def decide(plant: Plant, item: int, decision: str, **signature: str) -> Any:
    body = {"reason": "CR-9: alias added", "signature": plant.signature("admin") | signature}
    return plant.call("admin", "POST", f"/api/v1/quarantine/{item}/{decision}", json=body)


@pytest.mark.requirement("URS-TX-009")
def test_a_refused_result_is_reprocessed_from_its_raw_bytes_once_the_alias_exists(
    hub: Hub, plant: Plant, mes: Sender, lims: Sender
) -> None:
    mes.send(request(mes, "REQ-1"))
    lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": "S-000001"}))
    payload = {
        "sample": "S-000001",
        "test_code": "HPLC-ASSAY-2",
        "value": "99.3",
        "unit": "pct",
        "method_version": "1",
        "analyst": "analyst",
        "lims_status": "preliminary",
    }
    item = quarantined(hub, lims.envelope("labgate.result.v1", payload), lims.send)["id"]
    refused = decide(plant, item, "reprocess")
    assert (refused.status_code, refused.json()["reason"]) == (404, "test.unknown")
    alias = {"system": "LIMS", "kind": "test", "external": "HPLC-ASSAY-2", "canonical": "ASSAY"}
    document = {"site": {"code": SITE, "name": "Test plant"}, "aliases": [alias]}
    hub.bus.handle(ImportMasterData(Context("admin"), document, "CR-9: alias"))
    answer = decide(plant, item, "reprocess")
    assert answer.status_code == 200, answer.text
    sample = plant.call("auditor", "GET", "/samples/S-000001").json()
    assert (sample["results"][0]["test_code"], sample["results"][0]["raw_value"]) == (
        "ASSAY",
        "99.3",
    )
    shown = plant.call("auditor", "GET", f"/api/v1/quarantine/{item}").json()
    assert (shown["status"], shown["resolved_by"]) == ("reprocessed", "admin")
    again = decide(plant, item, "discard")
    assert (again.status_code, again.json()["reason"]) == (409, "quarantine.closed")
    assert "quarantine.reprocessed" in audit_actions(hub)


def test_discarding_needs_the_right_signature_and_keeps_the_bytes(
    hub: Hub, plant: Plant, mes: Sender
) -> None:
    raw = b'{"not": "an envelope"}'
    item = quarantined(hub, raw, mes.send)["id"]
    wrong = decide(plant, item, "discard", password="not-the-password")
    assert (wrong.status_code, wrong.json()["reason"]) == (401, "signature.bad_credentials")
    meaning = decide(plant, item, "discard", meaning="authored")
    assert meaning.json()["reason"] == "signature.wrong_meaning"
    cannot = decide(plant, item, "reprocess")
    assert (cannot.status_code, cannot.json()["reason"]) == (409, "quarantine.not_reprocessable")
    assert decide(plant, item, "discard").status_code == 200
    shown = plant.call("auditor", "GET", f"/api/v1/quarantine/{item}").json()
    assert (shown["status"], shown["raw_text"]) == ("discarded", raw.decode())
    refusals = [a for a in audit_actions(hub) if a.startswith("refused.quarantine")]
    assert len(refusals) == 2  # the password and the reprocess; the meaning, at the edge:
    assert "refused.resolve" in audit_actions(hub)


def test_a_channel_carries_only_the_message_types_configured_for_it(hub: Hub, mes: Sender) -> None:
    hub.inbox.channel_schemas = {"amqp": frozenset({"labgate.result.v1"})}
    raw = request(mes, "REQ-1")
    row = quarantined(hub, raw, lambda r: hub.inbox.receive(r, "amqp"))
    assert (row["reason_code"], row["field"], row["channel"]) == (
        "channel.schema_not_allowed", "schema", "amqp")  # fmt: skip
    assert count(hub, t.samples) == 0
    # Authenticated, then refused for its type on this channel: it used its number (a copy
    # of it is a duplicate), and the next message, over the API that carries any type, goes on.
    assert hub.inbox.receive(raw, "rest").status == "duplicate"
    assert hub.inbox.receive(request(mes, "REQ-2"), "rest").status == "applied"


@pytest.mark.parametrize("state", ["applied", "held"])
def test_a_forged_copy_never_relabels_or_strands_the_genuine_message(
    hub: Hub, mes: Sender, state: str
) -> None:
    if state == "held":
        request(mes, "REQ-0")  # never arrives: the next one waits
    genuine = request(mes, "REQ-1")
    assert mes.send(genuine).status == state
    forged = genuine.replace(b"REQ-1", b"REQ-9")  # same message id, signature broken
    assert quarantined(hub, forged, mes.send)["reason_code"] == "envelope.bad_signature"
    with hub.engine.connect() as connection:
        status = connection.scalar(select(t.inbox_messages.c.status))
    assert status == state
    assert mes.send(genuine).status == "duplicate"


def test_a_message_held_while_its_gap_fills_is_not_left_waiting(
    hub: Hub, mes: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API receives in a thread pool. Message 2 is being held (its hold not yet committed)
    while message 1 arrives, is applied and looks for held messages: without one admission at a
    time per stream, it would find none, and message 2 would wait for its gap timeout although
    nothing is missing (seen on PostgreSQL, where the two transactions overlap)."""
    first, second = request(mes, "REQ-1"), request(mes, "REQ-2")
    audit = hub.inbox._audit

    def slow_hold(*args: Any, **kwargs: Any) -> None:
        if args[3] == "inbox.held":
            time.sleep(0.5)  # the hold is decided, not yet committed
        audit(*args, **kwargs)

    monkeypatch.setattr(hub.inbox, "_audit", slow_hold)
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(hub.inbox.receive, second, "rest", "mes")
        time.sleep(0.2)
        applied = pool.submit(hub.inbox.receive, first, "rest", "mes")
        assert (held.result().status, applied.result().status) == ("held", "applied")
    with hub.engine.connect() as connection:
        statuses = list(connection.scalars(select(t.inbox_messages.c.status)))
    assert statuses == ["applied", "applied"]


def test_two_workers_on_one_stream_take_turns_through_the_database(hub: Hub, mes: Sender) -> None:
    # Two processes: the second inbox shares nothing with the first but the database. It decides
    # to hold message 3 (message 2 is missing) and, before it commits, the first applies message
    # 2 and looks for held messages to release. Only the stream lock makes the first wait for
    # the second's commit, so that it finds message 3 held and applies it too.
    assert mes.send(request(mes, "REQ-0")).status == "applied"  # the stream exists
    first, second = request(mes, "REQ-1"), request(mes, "REQ-2")
    other = copy.copy(hub.inbox)
    other._locks, other._locks_guard = {}, threading.Lock()
    deciding, go = threading.Event(), threading.Event()
    audit = other._audit

    def audit_then_wait(*args: Any, **kwargs: Any) -> None:
        audit(*args, **kwargs)
        deciding.set()
        assert go.wait(10)

    other._audit = audit_then_wait  # type: ignore[method-assign]
    with ThreadPoolExecutor(2) as pool:
        holding = pool.submit(other.receive, second, "test")
        assert deciding.wait(10)
        applying = pool.submit(hub.inbox.receive, first, "test")
        time.sleep(0.5)  # the first worker is now waiting for the stream, or it went ahead
        go.set()
        assert holding.result(30).status == "held"
        assert applying.result(30).status == "applied"
    with hub.engine.connect() as connection:
        rows = connection.execute(select(t.inbox_messages.c.sequence, t.inbox_messages.c.status))
        statuses = {sequence: status for sequence, status in rows}
        position = connection.scalar(select(t.stream_positions.c.last_sequence))
    assert statuses == {1: "applied", 2: "applied", 3: "applied"}
    assert position == 3


def test_two_streams_reporting_one_sample_at_once_take_turns_on_it(
    hub: Hub, mes: Sender, lims: Sender
) -> None:
    # Two LIMS streams report different tests of the same samples at the same moment. Each
    # transaction numbers its result after the ones already on the sample; unless the sample is
    # locked while it is changed, both would number theirs R1 on PostgreSQL and one would fail.
    other = Sender(hub, "lims", "results-2", "lims-1", lims.private)
    pairs = []
    for n in range(1, 11):
        mes.send(request(mes, f"REQ-{n}"))
        sample = f"S-{n:06d}"
        lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": sample}))
        base = {"sample": sample, "unit": "%", "method_version": "1", "analyst": "analyst",
                "lims_status": "preliminary"}  # fmt: skip
        pairs.append(
            (
                lims.envelope("labgate.result.v1", {**base, "test_code": "ASSAY", "value": "99.1"}),
                other.envelope("labgate.result.v1", {**base, "test_code": "WATER", "value": "0.2"}),
            )
        )
    with ThreadPoolExecutor(2) as pool:
        for first, second in pairs:
            outcomes = [pool.submit(lims.send, first), pool.submit(other.send, second)]
            assert [o.result(30).status for o in outcomes] == ["applied", "applied"]
    with hub.engine.connect() as connection:
        codes = sorted(connection.scalars(select(t.results.c.code)))
    assert codes == sorted(f"S-{n:06d}-R{k}" for n in range(1, 11) for k in (1, 2))


def test_a_lims_result_takes_the_lims_aliases_and_no_other_systems(
    hub: Hub, mes: Sender, lims: Sender
) -> None:
    aliases = [
        {"system": "LIMS", "kind": "test", "external": "HPLC-ASSAY-2", "canonical": "ASSAY"},
        {"system": "MES", "kind": "test", "external": "KF-WATER", "canonical": "WATER"},
    ]
    document = {"site": {"code": SITE, "name": "Test plant"}, "aliases": aliases}
    hub.bus.handle(ImportMasterData(Context("admin"), document, "CR-12: aliases"))
    mes.send(request(mes, "REQ-1"))
    lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": "S-000001"}))

    def result(test_code: str, value: str) -> bytes:
        payload = {"sample": "S-000001", "test_code": test_code, "value": value,
                   "unit": "%", "method_version": "1", "analyst": "analyst",
                   "lims_status": "preliminary"}  # fmt: skip
        return lims.envelope("labgate.result.v1", payload)

    assert lims.send(result("HPLC-ASSAY-2", "99.3")).status == "applied"
    with pytest.raises(ReceiptRefused) as refused:
        lims.send(result("KF-WATER", "0.2"))  # the MES's name for WATER, not the LIMS's
    assert (refused.value.reason, refused.value.field) == ("test.unknown", "test_code")
    with hub.engine.connect() as connection:
        recorded = connection.execute(select(t.results.c.test_code, t.results.c.raw_value))
        assert [tuple(row) for row in recorded] == [("ASSAY", "99.3")]


def test_rest_envelopes_that_arrive_while_a_group_is_written_go_in_the_next_one_together(
    hub: Hub, plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant.client.app.state.inbox_group_most = 4  # as LABGATE_INBOX_GROUP_MOST=4 would
    groups: list[list[str]] = []

    def receive_batch(
        inbox: Inbox, raws: list[bytes], channel: str, callers: list[str]
    ) -> list[Receipt]:
        groups.append([raw.decode() for raw in raws])
        time.sleep(0.2)  # long enough for the other requests to arrive meanwhile
        return [Receipt("applied", raw.decode()) for raw in raws]

    monkeypatch.setattr(inbox_group, "receive_batch", receive_batch)
    headers = {"X-API-Key": plant.api_keys["lims"], "Content-Type": "application/json"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda n: plant.client.post("/api/v1/inbox", content=f"m-{n}", headers=headers),
            range(8),
        ))  # fmt: skip
    # Each request is answered with its own envelope's outcome.
    assert [a.json()["message_id"] for a in answers] == [f"m-{n}" for n in range(8)]
    # Every envelope went in exactly once; those that waited went in groups of at most 4.
    assert sorted(m for g in groups for m in g) == sorted(f"m-{n}" for n in range(8))
    assert max(len(g) for g in groups) == 4 and len(groups) < 8


def test_a_poisoned_envelope_in_a_rest_group_is_quarantined_alone_and_its_neighbours_commit(
    hub: Hub, plant: Plant, mes: Sender, lims: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    streams = [Sender(hub, "lims", f"results-{k}", "lims-1", lims.private) for k in range(8)]
    bodies = []
    for n, sender in enumerate(streams, 1):
        mes.send(request(mes, f"REQ-{n}"))
        lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": f"S-{n:06d}"}))
        test_code = "NO-SUCH-TEST" if n == 5 else "ASSAY"  # the poisoned one: content refused
        payload = {"sample": f"S-{n:06d}", "test_code": test_code, "value": "99.1",
                   "unit": "%", "method_version": "1", "analyst": "analyst",
                   "lims_status": "preliminary"}  # fmt: skip
        bodies.append(sender.envelope("labgate.result.v1", payload))
    real, groups = inbox_group.receive_batch, []

    def slow_first(inbox: Inbox, raws: list[bytes], channel: str, callers: list[str]) -> Any:
        groups.append(len(raws))
        if len(groups) == 1:
            time.sleep(0.3)  # the others arrive meanwhile and go in the next group together
        return real(inbox, raws, channel, callers)

    monkeypatch.setattr(inbox_group, "receive_batch", slow_first)
    headers = {"X-API-Key": plant.api_keys["lims"], "Content-Type": "application/json"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda body: plant.client.post("/api/v1/inbox", content=body, headers=headers), bodies
        ))  # fmt: skip
    assert max(groups) > 1, groups  # the poisoned envelope did share a group
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 404, 200, 200, 200]
    refused = answers[4]
    assert (refused.json()["reason"], refused.headers["X-Sequence"]) == ("test.unknown", "used")
    item = quarantined_item(plant, int(refused.headers["X-Quarantine-Id"]))
    assert item["reason_code"] == "test.unknown"
    with hub.engine.connect() as connection:
        stored = sorted(connection.scalars(select(t.results.c.code)))
    assert stored == [f"S-{n:06d}-R1" for n in (1, 2, 3, 4, 6, 7, 8)]


def quarantined_item(plant: Plant, item: int) -> dict[str, Any]:
    answer = plant.client.get(f"/api/v1/quarantine/{item}", headers=plant.headers("auditor"))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_reprocessing_a_message_never_taken_in_admits_it_in_its_turn(
    hub: Hub, plant: Plant, mes: Sender
) -> None:
    private, public = generate_keypair()
    early = Sender(hub, "mes", "requests", "mes-2", private)  # its key not registered yet
    item = quarantined(hub, request(early, "REQ-1"), mes.send)["id"]  # unknown key: number free
    # Following the rule, the MES sent number 1 again with its registered key (a new id).
    assert mes.send(request(mes, "REQ-1")).status == "applied"
    since = hub.bus.deps.clock.now() - timedelta(days=1)
    hub.bus.handle(RegisterSourceKey(Context("admin"), "mes", "mes-2", public, since, None,
                                     "CR-8: the second MES key"))  # fmt: skip
    stale = decide(plant, item, "reprocess")  # it cannot take number 1 a second time
    assert (stale.status_code, stale.json()["reason"]) == (409, "sequence.stale")
    # One whose number is still free is admitted in its turn and applied.
    posing = request(mes, "REQ-2")
    item = quarantined(hub, posing, lambda raw: hub.inbox.receive(raw, "rest", "lims"))["id"]
    answer = decide(plant, item, "reprocess")
    assert answer.status_code == 200, answer.text
    with hub.engine.connect() as connection:
        made = list(connection.scalars(select(t.samples.c.mes_request_id).order_by(t.samples.c.id)))
        position = connection.scalar(select(t.stream_positions.c.last_sequence))
    assert (made, position) == (["REQ-1", "REQ-2"], 2)
