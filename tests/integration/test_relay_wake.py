"""The relay is woken by the commit, not by its poll, on SQLite and on PostgreSQL: a relay loop in
a thread of the hub's process, polling only every minute, delivers an approval committed after
its first pass within seconds. A commit that owes nothing, or a rolled-back one, rings nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fakes import ManualClock
from labgate.adapters.channels.webhook import WebhookTransport
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.signer import Signer
from labgate.service.outbox.relay import Relay, RelayReport
from labgate.service.outbox.relay_loop import RelayLoop
from plant import Plant, approved_result, request_sample
from polling import soon
from receiver import Receiver, outbox_rows

POLL = 60.0  # seconds: far longer than WOKEN, so only a wake delivers within it
WOKEN = 10.0  # seconds: a generous bound for a woken relay on a busy machine


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@contextmanager
def relay_running(hub: Hub, clock: ManualClock, receiver: Receiver) -> Iterator[list[RelayReport]]:
    """A relay loop to the receiver in a thread of this process, polling every POLL seconds;
    the reports of its passes so far."""
    with WebhookTransport({"mes": receiver.url("/mes")}, timeout_s=5) as webhook:
        store = SqlOutboxStore(hub.sessions)
        relay = Relay(store, {"mes": webhook}, clock, Signer.generate("labgate-wake-1"))
        reports: list[RelayReport] = []
        loop = RelayLoop(relay, hub.bell, POLL, after_pass=reports.append)
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        try:
            yield reports
        finally:
            loop.stop()
            thread.join(timeout=30)
    assert not thread.is_alive()


def test_an_approval_wakes_the_relay_in_its_process(
    plant: Plant, hub: Hub, clock: ManualClock, receiver: Receiver
) -> None:
    sample = request_sample(plant, "REQ-WAKE-1")  # its acknowledgement is owed before the relay
    owed_before = len(outbox_rows(hub))

    with relay_running(hub, clock, receiver) as reports:
        assert soon(lambda: len(reports) == 1 and len(receiver.requests) == owed_before, WOKEN)
        approved_result(plant, sample, "ASSAY", "99.62", "%")
        owed = outbox_rows(hub)
        assert len(owed) > owed_before  # the approval owes the MES its status

        delivered = soon(lambda: len(receiver.requests) == len(owed), WOKEN)
        assert delivered, f"not woken: {len(receiver.requests)} of {len(owed)} after {WOKEN} s"
    assert receiver.keys() == [row["message_id"] for row in owed]
    assert {row["status"] for row in outbox_rows(hub)} == {"delivered"}


def test_only_a_commit_that_wrote_outbox_rows_rings(plant: Plant, hub: Hub) -> None:
    before = hub.bell.rings
    with hub.uow_factory() as uow:
        uow.commit()  # owes nothing
    with hub.uow_factory():
        pass  # rolled back
    assert hub.bell.rings == before

    request_sample(plant, "REQ-WAKE-2")  # owes the MES its acknowledgement

    assert hub.bell.rings > before
