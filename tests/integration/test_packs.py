"""File packs from a drop folder through the inbox on the real store: applied whole or not at
all, every refusal in rejected/ with a note, quarantined with its raw bytes, and audited."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fakes import ManualClock
from labgate.adapters.channels.pack_pickup import PackOutcome, PackPickup
from labgate.adapters.channels.packstore import FolderPackStore
from labgate.adapters.channels.sftp import SftpPackStore, SftpTarget
from labgate.adapters.codecs.filepack import DataFile, csv_bytes, pack_decoder
from labgate.adapters.codecs.pgp import PgpGate, seal
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.domain.commands import Context, ImportMasterData
from packs import (
    PackSender,
    PgpParty,
    members_of,
    pgp_parties,
    registered_lims,
    repack,
    result,
    sha256,
)
from plant import SITE, Plant
from senders import count
from sshd import Sshd


@pytest.fixture
def lims(hub: Hub, plant: Plant) -> PackSender:
    return registered_lims(hub)


@pytest.fixture
def drop(tmp_path: Path) -> FolderPackStore:
    store = FolderPackStore(tmp_path / "exchange")
    asyncio.run(store.prepare())
    return store


def deliver(hub: Hub, store: FolderPackStore, *packs: tuple[str, bytes]) -> list[PackOutcome]:
    async def go() -> list[PackOutcome]:
        for name, data in packs:
            await store.put(name, data)
        return await PackPickup(store, hub.inbox).run_once()

    return asyncio.run(go())


def results(hub: Hub) -> list[tuple[str, str, str]]:
    query = select(t.results.c.code, t.results.c.test_code, t.results.c.raw_value)
    with hub.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(query.order_by(t.results.c.id))]


def quarantine_row(hub: Hub, item: int | None) -> dict[str, Any]:
    with hub.engine.connect() as connection:
        query = select(t.quarantine).where(t.quarantine.c.id == item)
        return dict(connection.execute(query).mappings().one())


def actions(hub: Hub) -> list[str]:
    with hub.engine.connect() as connection:
        query = select(t.audit_entries.c.action).order_by(t.audit_entries.c.seq)
        return list(connection.scalars(query))


CONTENT = {"test.unknown", "pack.record_count", "envelope.schema_violation",
           "b2mml.doctype_forbidden"}  # fmt: skip


def rejected(
    hub: Hub, store: FolderPackStore, pack: tuple[str, bytes], reason: str
) -> dict[str, Any]:
    """The pack is refused whole: in rejected/ with its note, quarantined as sent, audited."""
    before = results(hub)
    [outcome] = deliver(hub, store, pack)
    assert (outcome.folder, outcome.reason) == ("rejected", reason)
    folder = store.root / "rejected"
    assert (folder / pack[0]).read_bytes() == pack[1]
    note = json.loads((folder / (pack[0] + ".reason.json")).read_text())
    assert (note["reason"], note["quarantine_id"]) == (reason, outcome.quarantine_id)
    # Taken in, then refused for its content, the pack used its number; refused before the
    # inbox (it could not be authenticated as sent), it did not.
    assert note["sequence"] == ("used" if reason in CONTENT else "free")
    row = quarantine_row(hub, outcome.quarantine_id)
    assert (row["raw"], row["sha256"], row["reason_code"]) == (pack[1], sha256(pack[1]), reason)
    assert row["channel"] == "folder"
    assert actions(hub)[-1] == "quarantine.added"
    assert results(hub) == before  # nothing half-applied
    return row


@pytest.mark.requirement("URS-TX-008")
def test_a_pack_is_applied_in_one_transaction_and_moved_to_processed(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    name, data = lims.pack([result("S-000001", "99.1"), result("S-000002", "98.7"),
                            result("S-000001", "0.2", "WATER")])  # fmt: skip
    assert name.startswith(f"{SITE}_results_00000001_") and name.endswith("Z.tar")
    [outcome] = deliver(hub, drop, (name, data))
    assert (outcome.folder, outcome.status) == ("processed", "applied")
    assert (drop.root / "processed" / name).read_bytes() == data
    assert list((drop.root / "incoming").iterdir()) == []
    assert results(hub) == [("S-000001-R1", "ASSAY", "99.1"), ("S-000002-R1", "ASSAY", "98.7"),
                            ("S-000001-R2", "WATER", "0.2")]  # fmt: skip
    with hub.engine.connect() as connection:
        inbox = (
            connection.execute(
                select(t.inbox_messages).where(t.inbox_messages.c.channel == "folder")
            )
            .mappings()
            .one()
        )
        hashes = set(connection.scalars(
            select(t.audit_entries.c.payload_hash)
            .where(t.audit_entries.c.action == "result.recorded")
        ))  # fmt: skip
    assert (inbox["status"], inbox["stream"], inbox["sequence"]) == ("applied", "results", 1)
    assert hashes == {sha256(data)}


def test_the_same_pack_again_is_a_duplicate_and_changes_nothing(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    pack = lims.pack([result("S-000001", "99.1")])
    deliver(hub, drop, pack)
    outbox = count(hub, t.outbox)
    [again] = deliver(hub, drop, pack)
    assert (again.folder, again.status) == ("processed", "duplicate")
    assert len(results(hub)) == 1 and count(hub, t.outbox) == outbox
    assert sorted(p.name for p in (drop.root / "processed").iterdir()) == [pack[0], pack[0] + ".1"]
    assert actions(hub)[-1] == "inbox.duplicate"


def in_folder(store: FolderPackStore, folder: str) -> list[str]:
    return sorted(p.name for p in (store.root / folder).iterdir())


def test_a_pack_waiting_for_an_earlier_one_stays_in_work_until_it_is_applied(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    first = lims.pack([result("S-000001", "99.1")])
    second = lims.pack([result("S-000002", "98.7")])
    [held] = deliver(hub, drop, second)
    assert (held.folder, held.status) == ("work", "held")
    assert (in_folder(drop, "work"), in_folder(drop, "processed")) == ([second[0]], [])
    assert [(o.name, o.folder, o.status) for o in deliver(hub, drop)] == [
        (second[0], "work", "held")
    ]  # fmt: skip  (a poll sees it wait, and audits nothing)
    assert actions(hub).count("inbox.duplicate") == 0
    outcomes = deliver(hub, drop, first)
    assert {(o.name, o.folder, o.status) for o in outcomes} == {
        (first[0], "processed", "applied"), (second[0], "processed", "applied")}  # fmt: skip
    assert results(hub) == [("S-000001-R1", "ASSAY", "99.1"), ("S-000002-R1", "ASSAY", "98.7")]
    assert (in_folder(drop, "work"), in_folder(drop, "processed")) == (
        [], sorted([first[0], second[0]]))  # fmt: skip


@pytest.mark.parametrize("refusal", ["sequence.gap_timeout", "test.unknown"])
def test_a_waiting_pack_refused_later_goes_to_rejected_with_a_note_saying_why(
    hub: Hub, lims: PackSender, drop: FolderPackStore, clock: ManualClock, refusal: str
) -> None:
    first = lims.pack([result("S-000001", "99.1")])
    test = "KF-H2O" if refusal == "test.unknown" else "ASSAY"  # refused by its use case
    second = lims.pack([result("S-000002", "0.3", test)])
    assert [o.status for o in deliver(hub, drop, second)] == ["held"]
    if refusal == "sequence.gap_timeout":
        clock.advance(seconds=hub.settings.hold_timeout_seconds + 1)
        [item] = hub.inbox.expire_held()
        [outcome] = deliver(hub, drop)
    else:
        outcome = next(o for o in deliver(hub, drop, first) if o.name == second[0])
        item = outcome.quarantine_id
    assert (outcome.folder, outcome.status, outcome.reason) == ("rejected", "quarantined", refusal)
    assert second[0] not in in_folder(drop, "processed") + in_folder(drop, "work")
    note = json.loads((drop.root / "rejected" / (second[0] + ".reason.json")).read_text())
    assert (note["reason"], note["quarantine_id"], note["field"], note["sequence"]) == (
        refusal,
        item,
        "sequence" if refusal == "sequence.gap_timeout" else "test_code",
        "used",  # taken in: the sender goes on with the next number
    )
    assert quarantine_row(hub, item)["raw"] == second[1]


def test_a_data_file_changed_after_signing_is_a_checksum_mismatch(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    name, data = lims.pack([result("S-000001", "97.0")])
    forged = csv_bytes([result("S-000001", "99.9")])
    row = rejected(
        hub, drop, (name, repack(data, {"results.csv": forged})), "pack.checksum_mismatch"
    )
    assert row["field"] == "payload.files[0].sha256"


def test_a_manifest_with_the_wrong_record_count_is_refused(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    rows = [result("S-000001", "99.1"), result("S-000002", "98.7")]
    pack = lims.pack(rows, files=[DataFile("results.csv", csv_bytes(rows), 3)])
    assert rejected(hub, drop, pack, "pack.record_count")["field"] == "payload.files[0].records"


@pytest.mark.parametrize("name", ["../../etc/cron.d/labgate", "sub/results.csv", "..results.csv"])
def test_a_file_name_that_tries_to_leave_its_folder_is_refused(
    hub: Hub, lims: PackSender, drop: FolderPackStore, name: str
) -> None:
    rows = [result("S-000001", "99.1")]
    pack = lims.pack(rows, files=[DataFile(name, csv_bytes(rows), 1)])
    assert rejected(hub, drop, pack, "pack.path_traversal")["field"] in ("member", "name")
    assert not (drop.root.parent / "etc").exists()


def test_a_member_outside_the_manifest_is_refused(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    name, data = lims.pack([result("S-000001", "99.1")])
    smuggled = repack(data, {}, extra=(("more.csv", csv_bytes([result("S-000002", "1")])),))
    rejected(hub, drop, (name, smuggled), "pack.unlisted_file")


def test_schema_drift_in_one_record_refuses_the_whole_pack_naming_the_record(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    rows = [result("S-000001", "99.1"), result("S-000002", "98.7", instrument="HPLC-7")]
    row = rejected(hub, drop, lims.pack(rows), "envelope.schema_violation")
    assert row["field"] == "payload.files[0].records[2].instrument"


def test_a_business_refusal_in_one_record_applies_none_and_reprocesses_once_mapped(
    hub: Hub, plant: Plant, lims: PackSender, drop: FolderPackStore
) -> None:
    rows = [result("S-000001", "99.1"), result("S-000002", "0.3", "KF-H2O")]
    row = rejected(hub, drop, lims.pack(rows), "test.unknown")
    alias = {"system": "LIMS", "kind": "test", "external": "KF-H2O", "canonical": "WATER"}
    document = {"site": {"code": SITE, "name": "Test plant"}, "aliases": [alias]}
    hub.bus.handle(ImportMasterData(Context("admin"), document, "CR-9: alias"))
    body = {"reason": "CR-9: alias added", "signature": plant.signature("admin")}
    answer = plant.call("admin", "POST", f"/api/v1/quarantine/{row['id']}/reprocess", json=body)
    assert answer.status_code == 200, answer.text
    assert results(hub) == [("S-000001-R1", "ASSAY", "99.1"), ("S-000002-R1", "WATER", "0.3")]


@pytest.mark.requirement("URS-TX-008", category="negative")
def test_a_pack_signed_with_a_forged_manifest_is_refused(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    name, data = lims.pack([result("S-000001", "97.0")])
    forged = csv_bytes([result("S-000001", "99.9")])
    manifest = json.loads(dict(members_of(data))["manifest.json"])
    manifest["payload"]["files"][0]["sha256"] = sha256(forged)
    swapped = repack(data, {"manifest.json": json.dumps(manifest).encode(), "results.csv": forged})
    rejected(hub, drop, (name, swapped), "envelope.bad_signature")


def test_a_pack_whose_name_disagrees_with_its_manifest_is_refused(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    name, data = lims.pack([result("S-000001", "99.1")])
    renamed = name.replace("_00000001_", "_00000007_")
    rejected(hub, drop, (renamed, data), "pack.name_mismatch")
    rejected(hub, drop, ("results.tar", data), "pack.bad_name")
    [outcome] = deliver(hub, drop, (name, data))  # the right name still goes through
    assert outcome.status == "applied"


@pytest.mark.requirement("URS-TX-008", category="failure_recovery")
def test_a_pack_left_in_work_by_a_dead_worker_is_taken_up_again(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    name, data = lims.pack([result("S-000001", "99.1")])

    async def crash_after_claim() -> None:
        await drop.put(name, data)
        assert await drop.claim(name)

    asyncio.run(crash_after_claim())
    [outcome] = deliver(hub, drop)
    assert (outcome.name, outcome.status) == (name, "applied")
    assert len(results(hub)) == 1


# --- PGP-wrapped packs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pgp() -> Iterator[tuple[PgpParty, PgpParty, PgpParty]]:
    with pgp_parties() as parties:
        yield parties


def pgp_inbox(hub: Hub, labgate: PgpParty, trusted: PgpParty, required: bool = True) -> None:
    gate = PgpGate(labgate.home, [trusted.fingerprint], required=required)
    hub.inbox.decoders["folder"] = pack_decoder(gate)


def sealed(pack: tuple[str, bytes], by: PgpParty, to: PgpParty) -> tuple[str, bytes]:
    return pack[0] + ".pgp", seal(by.home, pack[1], to.fingerprint, by.fingerprint, None)


def test_a_pgp_pack_from_a_trusted_sender_is_opened_and_applied(
    hub: Hub, lims: PackSender, drop: FolderPackStore, pgp: Any
) -> None:
    labgate, sender, _ = pgp
    pgp_inbox(hub, labgate, sender)
    [outcome] = deliver(hub, drop, sealed(lims.pack([result("S-000001", "99.1")]), sender, labgate))
    assert (outcome.folder, outcome.status) == ("processed", "applied")
    assert results(hub) == [("S-000001-R1", "ASSAY", "99.1")]


def test_pgp_failures_are_quarantined_with_their_reason(
    hub: Hub, lims: PackSender, drop: FolderPackStore, pgp: Any
) -> None:
    labgate, sender, stranger = pgp
    pgp_inbox(hub, labgate, sender)
    by_stranger = sealed(lims.pack([result("S-000001", "99.1")]), stranger, labgate)
    assert rejected(hub, drop, by_stranger, "pack.pgp_signature")["field"] == "pgp"
    name, body = sealed(lims.pack([result("S-000001", "99.1")]), sender, labgate)
    damaged = body[:-40] + bytes(b ^ 0x5A for b in body[-40:])
    rejected(hub, drop, (name, damaged), "pack.pgp_decrypt")
    rejected(hub, drop, lims.pack([result("S-000001", "99.1")]), "pack.pgp_required")
    unsigned = gnupg_encrypt_only(sender, labgate, lims.pack([result("S-000001", "99.1")]))
    rejected(hub, drop, unsigned, "pack.pgp_signature")


def gnupg_encrypt_only(by: PgpParty, to: PgpParty, pack: tuple[str, bytes]) -> tuple[str, bytes]:
    import gnupg

    data = gnupg.GPG(gnupghome=str(by.home)).encrypt(pack[1], [to.fingerprint], armor=False,
                                                     always_trust=True).data  # fmt: skip
    return pack[0] + ".pgp", bytes(data)


# --- the same over SFTP, against a real OpenSSH server on loopback ------------------------------


def test_packs_over_sftp_are_applied_or_rejected_like_dropped_ones(
    hub: Hub, lims: PackSender, sshd: Sshd, tmp_path: Path
) -> None:
    root = sshd.home / tmp_path.name
    target = SftpTarget(sshd.host, sshd.port, sshd.username, str(root), sshd.client_key,
                        sshd.known_hosts)  # fmt: skip
    good = lims.pack([result("S-000001", "99.1")])
    name, data = lims.pack([result("S-000002", "97.0")])
    forged = (name, repack(data, {"results.csv": csv_bytes([result("S-000002", "99.9")])}))

    async def go() -> list[PackOutcome]:
        async with SftpPackStore(target) as store:
            await store.prepare()
            for pack in (good, forged):
                await store.put(*pack)
            return await PackPickup(store, hub.inbox).run_once()

    outcomes = asyncio.run(go())
    assert [(o.folder, o.status, o.reason) for o in outcomes] == [
        ("processed", "applied", None),
        ("rejected", "quarantined", "pack.checksum_mismatch"),
    ]
    assert (root / "processed" / good[0]).read_bytes() == good[1]
    note = json.loads((root / "rejected" / (name + ".reason.json")).read_text())
    assert note["reason"] == "pack.checksum_mismatch"
    assert quarantine_row(hub, outcomes[1].quarantine_id)["channel"] == "sftp"
    assert results(hub) == [("S-000001-R1", "ASSAY", "99.1")]


# --- B2MML data files ---------------------------------------------------------------------------

B2MML_RESULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<ProcessTestResult xmlns="http://www.mesa.org/xml/B2MML" releaseID="V0701">
  <ApplicationArea><CreationDateTime>2026-11-25T10:00:00Z</CreationDateTime></ApplicationArea>
  <DataArea>
    <Process/>
    <TestResult>
      <ID>LIMS-4711</ID>
      <TestableObjectID>S-000001</TestableObjectID>
      <EvaluatedCriterionResult>preliminary</EvaluatedCriterionResult>
      <PropertyMeasurement><ID>ASSAY</ID>
        <Value><ValueString>99.4</ValueString><UnitOfMeasure>%</UnitOfMeasure></Value>
      </PropertyMeasurement>
      <PropertyMeasurement><ID>ASSAY/method_version</ID>
        <Value><ValueString>1</ValueString></Value></PropertyMeasurement>
      <PropertyMeasurement><ID>ASSAY/analyst</ID>
        <Value><ValueString>analyst</ValueString></Value></PropertyMeasurement>
    </TestResult>
  </DataArea>
</ProcessTestResult>"""


def test_a_b2mml_test_result_in_a_pack_is_validated_and_applied(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    pack = lims.pack([], files=[DataFile("results.xml", B2MML_RESULT, 1, "b2mml")])
    [outcome] = deliver(hub, drop, pack)
    assert (outcome.folder, outcome.status) == ("processed", "applied")
    assert results(hub) == [("S-000001-R1", "ASSAY", "99.4")]


def test_an_xml_entity_bomb_in_a_pack_is_refused_unexpanded(
    hub: Hub, lims: PackSender, drop: FolderPackStore
) -> None:
    lol = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY l0 "lol">{lol}]>'
        '<ProcessTestResult xmlns="http://www.mesa.org/xml/B2MML">&l9;</ProcessTestResult>'
    ).encode()
    pack = lims.pack([], files=[DataFile("results.xml", bomb, 1, "b2mml")])
    rejected(hub, drop, pack, "b2mml.doctype_forbidden")
