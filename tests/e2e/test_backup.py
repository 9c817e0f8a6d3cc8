"""`labgate backup take` and `backup verify` on both databases (SQLite's online backup API,
PostgreSQL's pg_dump / pg_restore into a scratch database): a backup restores and its audit trail
checks out; a changed file, a trail altered before the backup and a backup that lost entries
each fail their restore test, the check and reason named; both are recorded in the live trail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from intruder import behind_the_back
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.config import Settings
from labgate.entrypoints.cli.backup import backup_app
from plant import SeededPlant

runner = CliRunner()
pytestmark = pytest.mark.requirement("URS-A11-7.2", "URS-A11-7.1")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> pytest.MonkeyPatch:
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    for name in ("LABGATE_DEMO", "LABGATE_SIGNING_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Hub:
    seeded_plant.on(client)
    return hub


def taken(out: Path) -> tuple[Path, dict[str, object]]:
    answer = runner.invoke(backup_app, ["take", "--out", str(out)])
    assert answer.exit_code == 0, answer.output
    (manifest_file,) = out.glob("*.manifest.json")
    return manifest_file, json.loads(manifest_file.read_text(encoding="utf-8"))


def trail(hub: Hub, prefix: str = "backup.") -> list[str]:
    a = t.audit_entries.c
    query = select(a.action).where(a.action.like(f"{prefix}%")).order_by(a.seq)
    with hub.engine.connect() as connection:
        return list(connection.scalars(query))


def test_a_backup_restores_and_its_trail_checks_out(
    plant: Hub, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with plant.engine.connect() as connection:
        head = connection.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)).one()
    manifest_file, manifest = taken(tmp_path)
    backup = manifest_file.with_name(str(manifest["file"]))
    assert backup.exists() and manifest["bytes"] == backup.stat().st_size
    assert (manifest["audit_head_seq"], manifest["audit_head_hash"]) == (head.seq, head.hash)
    assert manifest["schema_revision"] and manifest["taken_by"].startswith("cli:")  # type: ignore[union-attr]

    verified = runner.invoke(backup_app, ["verify", str(manifest_file)])
    assert verified.exit_code == 0, verified.output
    for check in ("checksum: ok", "restore: ok", "schema: ok", "audit_trail: ok", "audit_head: ok"):
        assert check in verified.output
    assert "samples" in verified.output and "audit_entries" in verified.output
    assert trail(plant) == ["backup.taken", "backup.restore_verified"]


@pytest.mark.requirement("URS-A11-7.2", category="negative")
def test_a_changed_backup_file_fails_its_checksum(
    plant: Hub, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    manifest_file, manifest = taken(tmp_path)
    backup = manifest_file.with_name(str(manifest["file"]))
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0xFF
    backup.write_bytes(bytes(data))
    answer = runner.invoke(backup_app, ["verify", str(manifest_file)])
    assert answer.exit_code == 1
    assert "checksum: FAILED [backup.checksum_mismatch]" in answer.output
    assert "restore:" not in answer.output  # nothing restored from a file that is not the one taken
    assert trail(plant) == ["backup.taken", "backup.restore_failed"]


@pytest.mark.requirement("URS-A11-7.2", category="negative")
def test_a_trail_altered_before_the_backup_fails_the_restore_test(
    plant: Hub, env: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
) -> None:
    with behind_the_back(settings.database_url) as connection:
        connection.execute(text("UPDATE audit_entries SET reason = 'nothing to see' WHERE seq = 3"))
    manifest_file, _ = taken(tmp_path)
    answer = runner.invoke(backup_app, ["verify", str(manifest_file)])
    assert answer.exit_code == 1
    assert "audit_trail: FAILED [audit." in answer.output and "entry 3" in answer.output


@pytest.mark.requirement("URS-A11-7.2", category="negative")
def test_a_backup_that_ends_before_the_head_it_was_taken_at_fails(
    plant: Hub, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    manifest_file, manifest = taken(tmp_path)
    manifest["audit_head_seq"] = int(manifest["audit_head_seq"]) + 5  # type: ignore[call-overload]
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    answer = runner.invoke(backup_app, ["verify", str(manifest_file)])
    assert answer.exit_code == 1
    assert "audit_head: FAILED [backup.head_mismatch]" in answer.output


def test_a_manifest_of_another_kind_is_refused(
    plant: Hub, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stray = tmp_path / "not-a-manifest.json"
    stray.write_text('{"format": "something.else"}', encoding="utf-8")
    refused = runner.invoke(backup_app, ["verify", str(stray)])
    assert refused.exit_code == 2 and "not a labgate.backup.v1 manifest" in refused.output
