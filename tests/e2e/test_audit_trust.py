"""The audit trail's completeness through `labgate audit` on SQLite and PostgreSQL: a tail cut
or a chain re-sealed behind labgate's back (its triggers dropped) is caught by the head and the
signed checkpoints; an export carries them and proves itself complete on its own."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner, Result

from fakes import ManualClock
from intruder import behind_the_back
from labgate.adapters.store import tables as t
from labgate.adapters.store.views import iter_audit
from labgate.bootstrap import Hub
from labgate.compliance.audit import AuditDraft, seal
from labgate.compliance.signer import Signer
from labgate.config import Settings
from labgate.entrypoints.cli.main import app
from plant import seed

A = t.audit_entries.c


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, Signer]:
    """labgate's key pair as `labgate keys generate` writes it: private and public JWK files."""
    signer = Signer.generate("labgate-2026-1")
    private, public = tmp_path / "labgate.private.jwk.json", tmp_path / "labgate.public.jwk.json"
    private.write_text(json.dumps({**signer.private_jwk, "kid": signer.kid}), encoding="utf-8")
    public.write_text(json.dumps({**signer.public_jwk, "kid": signer.kid}), encoding="utf-8")
    return private, public, signer


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, keys: tuple[Path, Path, Signer]
) -> pytest.MonkeyPatch:
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LABGATE_SIGNING_KEY_FILE", str(keys[0]))
    monkeypatch.delenv("LABGATE_DEMO", raising=False)
    return monkeypatch


def labgate(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def append(hub: Hub, clock: ManualClock, count: int, tag: str = "r") -> None:
    """`count` entries appended the application's way: through a unit of work."""
    for n in range(count):
        clock.advance(seconds=1)
        with hub.uow_factory() as uow:
            uow.audit(AuditDraft("qa", "person", "test.done", "test", f"{tag}{n}", clock.now()))
            uow.commit()


@pytest.fixture
def trail(hub: Hub, clock: ManualClock, env: pytest.MonkeyPatch) -> Iterator[Hub]:
    """Six entries, a checkpoint of the sixth, then four more (ten in all)."""
    append(hub, clock, 6)
    made = labgate("audit", "checkpoint")
    assert made.exit_code == 0, made.output
    assert "checkpoint of entry 6 " in made.stdout
    append(hub, clock, 4, "s")
    yield hub


def cut_tail(url: str, keep: int, move_head: bool) -> None:
    with behind_the_back(url) as connection:
        connection.execute(delete(t.audit_entries).where(A.seq > keep))
        if move_head:
            last = connection.execute(select(A.hash).where(A.seq == keep)).scalar_one()
            connection.execute(update(t.audit_head).values(seq=keep, hash=last))


def test_an_intact_trail_with_a_checkpoint_verifies(trail: Hub) -> None:
    result = labgate("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "audit trail intact: 10 entries verified" in result.stdout
    assert "checkpoints: 1, every signature valid" in result.stdout
    assert "the newest vouches for entry 6" in result.stdout
    assert "entries after the newest checkpoint: 4" in result.stdout
    assert "note:" not in result.stdout  # labgate's own key pinned the signatures


def test_a_cut_tail_is_caught_by_the_head(trail: Hub, settings: Settings) -> None:
    cut_tail(settings.database_url, 8, move_head=False)
    result = labgate("audit", "verify")
    assert result.exit_code == 1
    assert "audit trail BROKEN at entry 9: the head names entry 10 but the trail ends at " in (
        result.stderr
    )
    assert "the newest 2 entries are missing [audit.tail_missing]" in result.stderr


def test_a_cut_tail_with_its_head_moved_back_is_caught_by_the_checkpoint(
    trail: Hub, settings: Settings
) -> None:
    cut_tail(settings.database_url, 4, move_head=True)
    result = labgate("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN at entry 5: the checkpoint of " in result.stderr
    assert "vouches for entry 6, but the trail ends at entry 4" in result.stderr
    assert "[audit.tail_missing]" in result.stderr
    refused = labgate("audit", "checkpoint")  # and no checkpoint is signed over it
    assert refused.exit_code == 1
    assert "[audit.resealed]" in refused.stderr
    with trail.sessions() as session:
        query = select(t.audit_entries).where(A.action == "refused.audit_checkpoint")
        [entry] = session.execute(query).mappings().all()
    assert entry["after"] == {"reason": "audit.resealed", "field": "seq"}
    assert entry["actor"].startswith("cli:")


def test_a_chain_resealed_from_an_edited_entry_is_caught_by_the_checkpoint(
    trail: Hub, settings: Settings
) -> None:
    with trail.sessions() as session:
        entries = list(iter_audit(session))
    prev = entries[1].hash
    with behind_the_back(settings.database_url) as connection:
        # Entry 3's actor changed, and every seal from there on recomputed, head included.
        for old in entries[2:]:
            draft = old.draft if old.seq != 3 else dataclasses.replace(old.draft, actor="intruder")
            new = seal(draft, old.seq, prev)
            prev = new.hash
            connection.execute(
                update(t.audit_entries)
                .where(A.seq == old.seq)
                .values(actor=draft.actor, prev_hash=new.prev_hash, hash=new.hash)
            )
        connection.execute(update(t.audit_head).values(hash=prev))
    result = labgate("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN at entry 6: entry 6's hash differs from the one the checkpoint of " in (
        result.stderr
    )
    assert "signed: the chain was re-sealed after it [audit.resealed]" in result.stderr


def test_a_checkpoint_signed_by_another_key_is_refused(
    trail: Hub, clock: ManualClock, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other.private.jwk.json"
    intruder = Signer.generate("intruder-1")
    other.write_text(json.dumps({**intruder.private_jwk, "kid": "intruder-1"}), encoding="utf-8")
    env.setenv("LABGATE_SIGNING_KEY_FILE", str(other))
    assert labgate("audit", "checkpoint").exit_code == 0  # of entry 10, with the intruder's key
    env.delenv("LABGATE_SIGNING_KEY_FILE")
    unpinned = labgate("audit", "verify")  # no key named: signatures alone hold
    assert unpinned.exit_code == 0, unpinned.output
    assert "name labgate's public key with --public-key" in unpinned.stdout
    assert "signed by key intruder-1 (" in unpinned.stdout
    pinned = labgate("audit", "verify", "--public-key", str(tmp_path / "labgate.public.jwk.json"))
    assert pinned.exit_code == 1
    assert "BROKEN at entry 10: the checkpoint of entry 10 " in pinned.stderr
    assert "signed by key 'intruder-1', which is not labgate's key" in pinned.stderr
    assert "[audit.checkpoint_key_unknown]" in pinned.stderr


@pytest.mark.requirement("URS-A11-17", category="negative")
def test_an_export_proves_itself_complete_and_shows_a_cut(
    trail: Hub, keys: tuple[Path, Path, Signer], tmp_path: Path
) -> None:
    out = tmp_path / "export"
    exported = labgate("audit", "export", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    assert f"wrote {out / 'audit.checkpoints.json'}" in exported.stdout
    anchors = json.loads((out / "audit.checkpoints.json").read_text(encoding="utf-8"))
    assert [c["seq"] for c in anchors["checkpoints"]] == [6, 10]  # one signed for the export
    assert anchors["public_keys"] == [{**keys[2].public_jwk, "kid": "labgate-2026-1"}]
    assert "10 entries; chain intact" in (out / "audit.html").read_text(encoding="utf-8")

    public = str(keys[1])
    alone = labgate("audit", "verify", "--export", str(out), "--public-key", public)
    assert alone.exit_code == 0, alone.output
    assert "audit trail intact: 10 entries verified" in alone.stdout
    assert "entries after the newest checkpoint: 0" in alone.stdout

    lines = (out / "audit.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "audit.jsonl").write_text("".join(lines[:7]), encoding="utf-8")
    anchors["head"] = {"seq": 7, "hash": json.loads(lines[6])["hash"]}  # the head made to fit
    (out / "audit.checkpoints.json").write_text(json.dumps(anchors), encoding="utf-8")
    cut = labgate("audit", "verify", "--export", str(out), "--public-key", public)
    assert cut.exit_code == 1
    assert "vouches for entry 10, but the trail ends at entry 7" in cut.stderr
    assert "[audit.tail_missing]" in cut.stderr


@pytest.mark.requirement("URS-A11-17", category="negative")
def test_an_export_with_a_forged_checkpoint_is_refused(trail: Hub, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert labgate("audit", "export", "--out", str(out), "--readable", "csv").exit_code == 0
    anchors = json.loads((out / "audit.checkpoints.json").read_text(encoding="utf-8"))
    anchors["checkpoints"][0]["seq"] = 5  # vouching for less than was signed
    (out / "audit.checkpoints.json").write_text(json.dumps(anchors), encoding="utf-8")
    forged = labgate("audit", "verify", "--export", str(out))
    assert forged.exit_code == 1
    assert "does not carry a valid signature by key 'labgate-2026-1'" in forged.stderr
    assert "[audit.checkpoint_forged]" in forged.stderr
    anchors["checkpoints"][0]["seq"] = 6  # as signed again
    (out / "audit.checkpoints.json").write_text(json.dumps(anchors), encoding="utf-8")
    lines = (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    lines[2] = json.dumps({"seq": 3})
    (out / "audit.jsonl").write_text("\n".join(lines), encoding="utf-8")
    garbled = labgate("audit", "verify", "--export", str(out))
    assert garbled.exit_code == 2
    assert "Line 3 of " in garbled.stderr and "is not an audit entry" in garbled.stderr
    missing = labgate("audit", "verify", "--export", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2
    assert "is not a complete labgate audit export" in missing.stderr
    assert "[audit.export_unreadable]" in missing.stderr


def test_checkpoints_are_append_only(trail: Hub) -> None:
    with pytest.raises(Exception, match="append-only"), trail.sessions.begin() as session:
        session.execute(delete(t.audit_checkpoints))
    with pytest.raises(Exception, match="append-only"), trail.sessions.begin() as session:
        session.execute(update(t.audit_checkpoints).values(seq=99))
    with trail.sessions() as session:
        assert session.scalar(select(func.count()).select_from(t.audit_checkpoints)) == 1


def test_an_empty_trail_has_nothing_to_checkpoint(env: pytest.MonkeyPatch) -> None:
    result = labgate("audit", "checkpoint")
    assert result.exit_code == 1
    assert "there is no entry for a checkpoint to vouch for" in result.stderr
    assert "[audit.empty]" in result.stderr


def test_a_checkpoint_needs_labgates_key(env: pytest.MonkeyPatch) -> None:
    env.delenv("LABGATE_SIGNING_KEY_FILE")
    result = labgate("audit", "checkpoint")
    assert result.exit_code == 2
    assert "Set LABGATE_SIGNING_KEY_FILE" in result.stderr


def test_the_api_verify_reports_a_cut_tail(
    hub: Hub, client: TestClient, settings: Settings, env: pytest.MonkeyPatch
) -> None:
    plant = seed(hub, client)
    intact = plant.call("auditor", "GET", "/api/v1/audit/verify").json()
    assert (intact["ok"], intact["reason"], intact["checkpoints"]) == (True, None, 0)
    total = intact["checked"]
    cut_tail(settings.database_url, total - 1, move_head=False)
    cut = plant.call("auditor", "GET", "/api/v1/audit/verify").json()
    assert (cut["ok"], cut["reason"], cut["first_broken"]) == (False, "audit.tail_missing", total)
    assert cut["problem"].endswith("the newest entry is missing")
