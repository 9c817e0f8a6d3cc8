"""The source keys, status map, unit dictionary and aliases are cached per process and read
again only when their version moved; every change moves it in its own transaction, so another
process sees it at once. A key revoked anywhere is refused at once, also when it was revoked
after the message's signature was checked with the cached key."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.adapters.store.engine import WRITE
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.keys import SourceKey
from labgate.compliance.passwords import new_api_key
from labgate.config import Settings
from labgate.domain.account_commands import IssueApiKey
from labgate.domain.commands import ChangeAccountState, Context, ImportMasterData
from labgate.domain.interface_commands import RevokeSourceKey
from labgate.service.config_cache import KeyRing
from labgate.service.inbox.admission import ReceiptRefused
from plant import SITE, Plant
from senders import Sender, count, request

SRC = Path(__file__).resolve().parents[2] / "src"
REVOKE = """
import secrets, sys
from labgate.bootstrap import bootstrap
from labgate.config import Settings
from labgate.domain.commands import Context
from labgate.domain.interface_commands import RevokeSourceKey

hub = bootstrap(Settings(database_url=sys.argv[1], token_secret=secrets.token_urlsafe(32)),
                preload=False)
try:
    hub.bus.handle(RevokeSourceKey(Context("admin"), "mes", "mes-1", "INC-7: key leaked"))
finally:
    hub.close()
"""


@pytest.fixture
def other(settings: Settings, clock: ManualClock) -> Iterator[Hub]:
    """A second labgate on the same database: its own engine, its own cache."""
    built = bootstrap(settings, clock=clock)
    yield built
    built.close()


def statements(hub: Hub) -> list[str]:
    """The SQL statements the hub's engine runs from now on."""
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()))

    event.listen(hub.engine, "before_cursor_execute", note)
    return seen


def position(hub: Hub, source: str, stream: str) -> int:
    with hub.engine.connect() as connection:
        p = t.stream_positions.c
        found = connection.scalar(
            select(p.last_sequence).where(p.source == source, p.stream == stream)
        )
        return int(found or 0)


def refused_reason(send: Any, raw: bytes) -> str:
    with pytest.raises(ReceiptRefused) as refused:
        send(raw)
    return refused.value.reason


def test_a_kind_is_read_again_only_when_its_version_moved(hub: Hub, plant: Plant) -> None:
    seen = statements(hub)
    for _ in range(3):
        with hub.uow_factory().reading() as uow:
            assert "mg/g" in uow.unit_dictionary()
            uow.status_map(hub.bus.deps.clock.now())
    reads = [s for s in seen if "FROM units" in s or "FROM status_rules" in s]
    assert len(reads) == 2  # once each, by the first transaction
    assert len([s for s in seen if "FROM config_versions" in s]) == 3  # one check each
    unit = {"code": "ug/g", "expression": "ug/g", "precision": 1, "kind": "mass fraction",
            "name": "microgram per gram"}  # fmt: skip
    document = {"site": {"code": SITE, "name": "Test plant"}, "units": [unit]}
    hub.bus.handle(ImportMasterData(Context("admin"), document, "CR-21: a unit"))
    seen.clear()
    with hub.uow_factory().reading() as uow:
        assert "ug/g" in uow.unit_dictionary()
        uow.status_map(hub.bus.deps.clock.now())
    assert [s for s in seen if "FROM units" in s]  # units moved: read again
    assert not [s for s in seen if "FROM status_rules" in s]  # the status map did not


def test_a_unit_and_an_alias_imported_through_another_instance_are_seen_at_once(
    hub: Hub, other: Hub, plant: Plant
) -> None:
    with hub.uow_factory().reading() as uow:  # cached here first
        assert "ug/g" not in uow.unit_dictionary()
        assert not [a for a in uow.aliases(SITE) if a.external_code == "HPLC-ASSAY-9"]
    unit = {"code": "ug/g", "expression": "ug/g", "precision": 1, "kind": "mass fraction",
            "name": "microgram per gram"}  # fmt: skip
    alias = {"system": "LIMS", "kind": "test", "external": "HPLC-ASSAY-9", "canonical": "ASSAY"}
    document = {"site": {"code": SITE, "name": "Test plant"}, "units": [unit], "aliases": [alias]}
    other.bus.handle(ImportMasterData(Context("admin"), document, "CR-22: unit and alias"))
    with hub.uow_factory().reading() as uow:
        assert uow.unit_dictionary()["ug/g"] == ("ug/g", "mass fraction")
        [found] = [a for a in uow.aliases(SITE) if a.external_code == "HPLC-ASSAY-9"]
        assert found.canonical_code == "ASSAY"


def test_a_key_revoked_by_another_process_is_refused_at_once(
    hub: Hub, mes: Sender, settings: Settings
) -> None:
    assert mes.send(request(mes, "REQ-1")).status == "applied"  # the key is cached now
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run([sys.executable, "-c", REVOKE, settings.database_url], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert refused_reason(mes.send, request(mes, "REQ-2")) == "envelope.revoked_key"
    assert position(hub, "mes", "requests") == 1  # refused unauthenticated: its number is free


class RevokedAfterLookup:
    """A key ring whose first look-up is followed by a revocation through another instance:
    the signature checks out with the cached key, and the key is revoked before the message's
    transaction begins."""

    def __init__(self, ring: KeyRing, other: Hub) -> None:
        self.ring, self.other, self.done = ring, other, False
        self.asked: list[bool] = []

    def find(
        self, source: str, kid: str, fresh: bool = False
    ) -> tuple[SourceKey | None, int | None]:
        found = self.ring.find(source, kid, fresh)
        self.asked.append(found[0] is not None and found[0].revoked_at is None)
        if not self.done:
            self.done = True
            revoke = RevokeSourceKey(Context("admin"), source, kid, "INC-8: key leaked")
            self.other.bus.handle(revoke)
        return found


def test_a_key_revoked_between_the_check_and_the_transaction_is_refused(
    hub: Hub, other: Hub, mes: Sender
) -> None:
    assert mes.send(request(mes, "REQ-1")).status == "applied"
    ring = RevokedAfterLookup(hub.inbox.keys, other)
    hub.inbox.keys = ring
    assert refused_reason(mes.send, request(mes, "REQ-2")) == "envelope.revoked_key"
    assert ring.asked == [True, False]  # valid in the cache, then revoked once checked again
    assert position(hub, "mes", "requests") == 1
    with hub.engine.connect() as connection:
        assert connection.scalar(select(t.samples.c.code).where(
            t.samples.c.mes_request_id == "REQ-2")) is None  # fmt: skip


def test_a_happy_message_reads_no_key_and_writes_in_one_transaction(hub: Hub, mes: Sender) -> None:
    assert mes.send(request(mes, "REQ-1")).status == "applied"  # keys cached
    begun: list[object] = []
    event.listen(hub.engine, "begin", lambda c: begun.append(c.get_execution_options().get(WRITE)))
    seen = statements(hub)
    assert mes.send(request(mes, "REQ-2")).status == "applied"
    # The message's own transaction, then the inbox's look-up for a message it unblocked
    # (Inbox.release_held); no transaction of its own for the key any more.
    assert begun == [True, False]
    assert not [s for s in seen if "FROM source_keys" in s]
    assert len([s for s in seen if "FROM config_versions" in s]) == 1


def test_an_api_key_replaced_or_an_account_deactivated_elsewhere_is_refused_at_once(
    hub: Hub, other: Hub, plant: Plant
) -> None:
    headers = {"X-API-Key": plant.api_keys["lims"]}
    assert plant.client.get("/api/v1/schemas", headers=headers).status_code == 200  # cached
    new_key = new_api_key()
    other.bus.handle(IssueApiKey(Context("admin"), "lims", new_key, "CR-31: key rotated"))
    old = plant.client.get("/api/v1/schemas", headers=headers)
    assert (old.status_code, old.json()["reason"]) == (401, "auth.bad_api_key")
    assert plant.client.get("/api/v1/schemas", headers={"X-API-Key": new_key}).status_code == 200
    other.bus.handle(ChangeAccountState(Context("admin"), "lims", "deactivate", "INC-9: retired"))
    gone = plant.client.get("/api/v1/schemas", headers={"X-API-Key": new_key})
    assert (gone.status_code, gone.json()["reason"]) == (401, "auth.bad_api_key")


def inbox_post(plant: Plant, raw: bytes, key: str) -> Any:
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    return plant.client.post("/api/v1/inbox", content=raw, headers=headers)


def test_the_inbox_refuses_a_cached_api_key_replaced_or_deactivated_elsewhere(
    hub: Hub, other: Hub, plant: Plant, mes: Sender
) -> None:
    # The inbox takes a cached sender without a read; its group writer checks the version.
    assert inbox_post(plant, request(mes, "REQ-1"), plant.api_keys["mes"]).status_code == 200
    new_key = new_api_key()
    other.bus.handle(IssueApiKey(Context("admin"), "mes", new_key, "CR-32: key rotated"))
    old = inbox_post(plant, request(mes, "REQ-2"), plant.api_keys["mes"])
    assert (old.status_code, old.json()["reason"]) == (401, "auth.bad_api_key")
    assert count(hub, t.quarantine) == 0  # refused at the door: nothing taken in
    assert position(hub, "mes", "requests") == 1
    mes.sequence -= 1  # REQ-2's number was never used: the partner sends it again
    assert inbox_post(plant, request(mes, "REQ-2"), new_key).status_code == 200
    other.bus.handle(ChangeAccountState(Context("admin"), "mes", "deactivate", "INC-10: retired"))
    gone = inbox_post(plant, request(mes, "REQ-3"), new_key)
    assert (gone.status_code, gone.json()["reason"]) == (401, "auth.bad_api_key")
    assert position(hub, "mes", "requests") == 2


class DeactivatedAfterLookup:
    """The cache's answer, then the account is deactivated by another instance before the
    inbox writes the message: the writer's check must see it."""

    def __init__(self, accounts: Any, other: Hub) -> None:
        self.accounts, self.other, self.done = accounts, other, False

    def known(self, key_hash: str) -> Any:
        found = self.accounts.known(key_hash)
        if found is not None and not self.done:
            self.done = True
            retire = ChangeAccountState(Context("admin"), "mes", "deactivate", "INC-11: retired")
            self.other.bus.handle(retire)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.accounts, name)


def test_an_account_deactivated_after_its_cached_check_is_refused_by_the_writer(
    hub: Hub, other: Hub, plant: Plant, mes: Sender
) -> None:
    assert plant.client.get("/api/v1/schemas", headers={"X-API-Key": plant.api_keys["mes"]}
                            ).status_code == 200  # fmt: skip  # the key cached
    hub.accounts = DeactivatedAfterLookup(hub.accounts, other)
    refused = inbox_post(plant, request(mes, "REQ-1"), plant.api_keys["mes"])
    assert hub.accounts.done  # the request was admitted from the cache, then the writer looked
    assert (refused.status_code, refused.json()["reason"]) == (401, "auth.bad_api_key")
    assert position(hub, "mes", "requests") == 0
    assert count(hub, t.samples) == 0
