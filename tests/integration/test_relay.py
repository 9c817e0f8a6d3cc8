"""The outbox relay against a real HTTP receiver, on SQLite and on PostgreSQL: rows produced by
the real bus go out in order, signed, keyed by message id; failures back off and dead-letter
without blocking the rows behind them; an operator's retry is audited; nothing is pruned."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from uuid6 import uuid7

from fakes import ManualClock
from labgate.adapters.channels.webhook import WebhookTransport
from labgate.adapters.store import tables as t
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.signer import Signer
from labgate.domain.errors import InvalidInput, InvalidTransition, NotFound
from labgate.service.outbox.records import OutboxMessage
from labgate.service.outbox.relay import Relay, RelayReport, Transport
from plant import Plant, approved_result, released_batch, request_sample
from receiver import Receiver, attempt_rows, outbox_rows, registered_samples, verified

TIMEOUT = 0.5  # seconds the relay waits for the receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def signer() -> Signer:
    return Signer.generate("labgate-test-1")


@pytest.fixture
def webhook(receiver: Receiver) -> Iterator[WebhookTransport]:
    with WebhookTransport({"mes": receiver.url("/mes")}, timeout_s=TIMEOUT) as transport:
        yield transport


def relay_for(
    hub: Hub, clock: ManualClock, signer: Signer, transport: Transport, **kw: Any
) -> Relay:
    options: dict[str, Any] = {
        "max_attempts": 4,
        "base_delay": timedelta(seconds=2),
        "max_delay": timedelta(seconds=5),
    }
    store = SqlOutboxStore(hub.sessions)
    return Relay(store, {"mes": transport}, clock, signer, **(options | kw))


def audit(hub: Hub, action: str) -> list[dict[str, Any]]:
    with hub.sessions() as session:
        query = select(t.audit_entries).where(t.audit_entries.c.action == action)
        return [dict(r) for r in session.execute(query).mappings()]


@pytest.mark.requirement("URS-A11-16")
def test_due_rows_go_out_in_order_signed_and_keyed_by_message_id(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    registered_samples(plant, 3)
    rows = outbox_rows(hub)
    assert [r["status"] for r in rows] == ["pending"] * 3
    relay = relay_for(hub, clock, signer, webhook)

    assert relay.run_once() == RelayReport(delivered=3)

    assert receiver.keys() == [r["message_id"] for r in rows]
    for row, request in zip(rows, receiver.requests, strict=True):
        assert request.path == "/mes"
        assert request.headers["content-type"] == "application/json"
        envelope = verified(request.body, signer)
        assert (envelope.message_id, envelope.sequence) == (row["message_id"], row["id"])
        assert (envelope.source, envelope.stream, envelope.site) == ("labgate", "mes", "T1")
        assert (envelope.schema, envelope.payload) == (row["schema"], row["payload"])
        assert envelope.correlation_id == row["correlation_id"] is not None
    delivered = outbox_rows(hub)
    assert {(r["status"], r["attempts"], r["delivered_at"]) for r in delivered} == {
        ("delivered", 1, clock.now())
    }
    assert [(a["outbox_id"], a["attempt"], a["outcome"]) for a in attempt_rows(hub)] == [
        (r["id"], 1, "delivered") for r in rows
    ]
    assert relay.run_once() == RelayReport()  # nothing is sent twice on purpose
    assert len(receiver.requests) == 3


@pytest.mark.requirement("URS-A11-16", category="failure_recovery")
def test_a_refused_row_backs_off_doubling_then_dead_letters_without_blocking_the_others(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    registered_samples(plant, 3)
    stuck, *others = outbox_rows(hub)
    receiver.refuse.add(stuck["message_id"])
    relay, start = relay_for(hub, clock, signer, webhook), clock.now()

    assert relay.run_once() == RelayReport(delivered=2, failed=1)
    assert [r["status"] for r in outbox_rows(hub)] == ["pending", "delivered", "delivered"]
    assert relay.run_once() == RelayReport()  # backing off: not due yet
    clock.advance(seconds=1.9)
    assert relay.run_once() == RelayReport()
    reports = []
    for wait in (0.1, 4, 5):  # due at +2 s, then +4 s later, then +5 s later (capped)
        clock.advance(seconds=wait)
        reports.append(relay.run_once())
    assert reports == [RelayReport(failed=1), RelayReport(failed=1), RelayReport(dead=1)]

    tries = [a for a in attempt_rows(hub) if a["outbox_id"] == stuck["id"]]
    assert [a["attempted_at"] - start for a in tries] == [
        timedelta(seconds=s) for s in (0, 2, 6, 11)
    ]
    assert [(a["attempt"], a["outcome"]) for a in tries] == [(n, "failed") for n in (1, 2, 3, 4)]
    assert all("answered HTTP 500: receiver error" in a["detail"] for a in tries)
    dead = outbox_rows(hub)[0]
    assert (dead["status"], dead["attempts"], dead["next_attempt_at"]) == ("dead", 4, None)
    assert dead["last_error"] == tries[-1]["detail"]
    [entry] = audit(hub, "outbox.dead_lettered")
    assert (entry["actor"], entry["record_type"], entry["record_id"]) == (
        "labgate-relay",
        "outbox",
        stuck["message_id"],
    )
    assert entry["after"]["status"] == "dead" and entry["after"]["attempts"] == 4

    clock.advance(hours=1)
    assert relay.run_once() == RelayReport()  # a dead letter waits for an operator
    assert receiver.keys().count(stuck["message_id"]) == 4
    assert [receiver.keys().count(r["message_id"]) for r in others] == [1, 1]


def test_an_operator_retry_requeues_a_dead_letter_with_an_audited_reason(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    registered_samples(plant, 2)
    dead, fine = outbox_rows(hub)
    receiver.refuse.add(dead["message_id"])
    relay = relay_for(hub, clock, signer, webhook, max_attempts=1)
    assert relay.run_once() == RelayReport(delivered=1, dead=1)

    refusals = [
        (InvalidInput, [dead["message_id"]], " "),
        (InvalidTransition, [dead["message_id"], fine["message_id"]], "CR-9: MES up"),
        (NotFound, [dead["message_id"], "0190a0a0-0000-7000-8000-000000000000"], "CR-9: MES up"),
    ]
    for error, ids, reason in refusals:
        with pytest.raises(error):
            relay.retry_dead(ids, "admin", reason)
    assert outbox_rows(hub)[0]["status"] == "dead"  # all or none: nothing moved
    assert audit(hub, "outbox.retry") == []

    receiver.refuse.clear()
    assert relay.retry_dead([dead["message_id"]], "admin", "CR-9: MES back up") == [
        dead["message_id"]
    ]
    [entry] = audit(hub, "outbox.retry")
    assert (entry["actor"], entry["record_id"], entry["reason"]) == (
        "admin",
        dead["message_id"],
        "CR-9: MES back up",
    )
    assert (entry["before"], entry["after"]) == (
        {"status": "dead", "attempts": 1},
        {"status": "pending", "attempts": 0},
    )
    assert relay.run_once() == RelayReport(delivered=1)
    assert outbox_rows(hub)[0]["status"] == "delivered"
    tries = [a["outcome"] for a in attempt_rows(hub) if a["outbox_id"] == dead["id"]]
    assert tries == ["failed", "delivered"]  # every attempt kept, across the retry


@pytest.mark.requirement("URS-TX-002", "URS-A11-16", "URS-P11-11.30", category="failure_recovery")
def test_a_timeout_then_success_sends_the_same_message_id_for_the_receiver_to_dedupe(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    registered_samples(plant, 1)
    [row] = outbox_rows(hub)
    receiver.slow, receiver.delay = 1, TIMEOUT * 3
    relay = relay_for(hub, clock, signer, webhook)

    assert relay.run_once() == RelayReport(failed=1)
    [timed_out] = attempt_rows(hub)
    assert f"did not answer within {TIMEOUT:g} s" in timed_out["detail"]
    clock.advance(seconds=2)
    assert relay.run_once() == RelayReport(delivered=1)

    assert receiver.keys() == [row["message_id"]] * 2  # the receiver got it twice: one id
    first, second = (verified(r.body, signer) for r in receiver.requests)
    assert first.message_id == second.message_id == row["message_id"]
    assert second.sent_at - first.sent_at == timedelta(seconds=2)  # re-signed for the retry
    assert [a["outcome"] for a in attempt_rows(hub)] == ["failed", "delivered"]


def delivered_on_the_retry(
    hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any,
    row: dict[str, Any],
) -> None:  # fmt: skip
    """The MES answers 500 to `row`'s first delivery and is back for the retry: the retry
    delivers the same message, and nothing owed is left behind."""
    receiver.refuse.add(row["message_id"])  # the MES is in trouble
    relay = relay_for(hub, clock, signer, webhook)
    relay.run_once()
    [waiting] = [r for r in outbox_rows(hub) if r["id"] == row["id"]]
    assert (waiting["status"], waiting["attempts"]) == ("pending", 1)

    receiver.refuse.clear()  # the MES is back
    clock.advance(seconds=2)
    relay.run_once()
    tries = [r for r in receiver.requests if r.key == row["message_id"]]
    assert len(tries) == 2
    first, second = (verified(r.body, signer) for r in tries)
    assert first.payload == second.payload == row["payload"]  # the same message, not lost
    assert [a["outcome"] for a in attempt_rows(hub) if a["outbox_id"] == row["id"]] == [
        "failed", "delivered"
    ]  # fmt: skip
    assert {r["status"] for r in outbox_rows(hub)} == {"delivered"}


@pytest.mark.requirement("URS-TX-006", category="failure_recovery")
def test_an_accepted_status_the_mes_failed_to_take_reaches_it_on_the_retry_unchanged(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    sample = request_sample(plant, "REQ-ST")
    code = approved_result(plant, sample, "ASSAY", "99.5", "%")
    [status] = [r for r in outbox_rows(hub) if r["message_type"] == "result"
                and r["payload"]["result_status"] == "Accepted"]  # fmt: skip
    assert status["record_id"] == code
    delivered_on_the_retry(hub, clock, signer, receiver, webhook, status)


@pytest.mark.requirement("URS-TX-005", category="failure_recovery")
def test_an_invalidation_the_mes_failed_to_take_reaches_it_on_the_retry_unchanged(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    sample = request_sample(plant, "REQ-INV")
    code = approved_result(plant, sample, "ASSAY", "99.5", "%")
    body = {"reason": "Lab error: wrong dilution",
            "signature": plant.signature("reviewer", "invalidated")}  # fmt: skip
    answer = plant.call("reviewer", "POST", f"/results/{code}/invalidation", json=body)
    assert answer.status_code == 200, answer.text
    [told] = [r for r in outbox_rows(hub) if r["message_type"] == "result_invalidated"]
    assert (told["record_id"], told["payload"]["superseded"]) == (code, True)
    delivered_on_the_retry(hub, clock, signer, receiver, webhook, told)


@pytest.mark.requirement("URS-TX-007", category="failure_recovery")
def test_a_release_the_mes_failed_to_take_reaches_production_on_the_retry_unchanged(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    released_batch(plant, "REQ-BR")
    [told] = [r for r in outbox_rows(hub) if r["message_type"] == "batch_disposition"]
    assert (told["payload"]["disposition"], told["payload"]["signed_by"]) == ("released", "qa")
    delivered_on_the_retry(hub, clock, signer, receiver, webhook, told)


def test_a_row_that_cannot_be_signed_is_dead_lettered_at_once(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    registered_samples(plant, 1)
    with hub.uow_factory() as uow:  # committed (and sealed) with an id no envelope may carry
        uow.send(OutboxMessage("T1", "mes", "note", "labgate.note.v1", str(uuid7()), "a\tb",
                               "N-1", {"note": "x"}, clock.now()))  # fmt: skip
        uow.commit()
    good, bad = outbox_rows(hub)
    relay = relay_for(hub, clock, signer, webhook)

    assert relay.run_once() == RelayReport(delivered=1, dead=1)
    assert receiver.keys() == [good["message_id"]]
    [refused] = [a for a in attempt_rows(hub) if a["outbox_id"] == bad["id"]]
    assert refused["outcome"] == "refused"
    assert refused["detail"].startswith("Cannot sign the envelope: correlation_id")
    [entry] = audit(hub, "outbox.dead_lettered")
    assert entry["record_id"] == bad["message_id"]


class Broken:
    """A transport with a bug for one message id; the others it hands to `inner`."""

    def __init__(self, inner: Transport, broken: str) -> None:
        self.inner, self.broken = inner, broken

    def deliver(self, destination: str, envelope: bytes, message_id: str) -> None:
        if message_id == self.broken:
            raise RuntimeError("bug in a transport")
        self.inner.deliver(destination, envelope, message_id)


def test_a_transport_bug_is_kept_as_a_failed_attempt_and_the_next_rows_still_go(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    registered_samples(plant, 2)
    first, second = outbox_rows(hub)
    relay = relay_for(hub, clock, signer, Broken(webhook, first["message_id"]))

    assert relay.run_once() == RelayReport(delivered=1, failed=1)
    assert receiver.keys() == [second["message_id"]]
    [failed] = [a for a in attempt_rows(hub) if a["outbox_id"] == first["id"]]
    assert failed["detail"] == "RuntimeError: bug in a transport"


@pytest.mark.requirement("URS-A11-16", category="boundary")
def test_a_claimed_row_is_not_sent_by_a_second_relay_until_its_lease_ends(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, receiver: Receiver, webhook: Any
) -> None:
    registered_samples(plant, 1)
    [row] = outbox_rows(hub)
    store, now = SqlOutboxStore(hub.sessions), clock.now()
    assert store.claim(row["id"], now, now + timedelta(minutes=2)) == 0  # a relay that then died
    relay = relay_for(hub, clock, signer, webhook)

    assert relay.run_once() == RelayReport()
    clock.advance(minutes=2)
    assert relay.run_once() == RelayReport(delivered=1)
    assert receiver.keys() == [row["message_id"]]


def test_destinations_without_a_transport_are_left_pending(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, webhook: Any
) -> None:
    registered_samples(plant, 1)
    store = SqlOutboxStore(hub.sessions)
    relay = Relay(store, {"lims": webhook}, clock, signer)
    assert relay.run_once() == RelayReport()
    assert [(r["status"], r["attempts"]) for r in outbox_rows(hub)] == [("pending", 0)]


@pytest.mark.requirement("URS-A11-16", category="negative")
def test_the_database_refuses_to_prune_messages_or_attempts(
    plant: Plant, hub: Hub, clock: ManualClock, signer: Signer, webhook: Any
) -> None:
    registered_samples(plant, 1)
    relay_for(hub, clock, signer, webhook).run_once()
    for statement in (
        delete(t.outbox),
        delete(t.outbox_attempts),
        update(t.outbox_attempts).values(outcome="failed"),
    ):
        with hub.sessions() as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(statement)
    assert len(outbox_rows(hub)) == len(attempt_rows(hub)) == 1
