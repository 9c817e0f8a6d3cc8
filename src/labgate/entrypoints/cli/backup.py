"""`labgate backup`: take a backup of the database with its manifest, and test that a backup
restores into a database whose audit trail still checks out (Annex 11 §7.2). Both are recorded
in the live audit trail; run them from cron."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import sessionmaker

import labgate
from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_store import read_head, snapshot, verify_stored
from labgate.adapters.store.backup import BackupFailed, kind_of, restored, take_backup
from labgate.adapters.store.migrate import current_revision
from labgate.compliance.clock import SystemClock
from labgate.config import Settings
from labgate.database import open_database
from labgate.domain.commands import Context
from labgate.entrypoints.cli.audit import trusted_keys
from labgate.service.backups import (
    Check,
    Manifest,
    RestoreReport,
    checksum_check,
    head_check,
    record_backup,
    record_restore_test,
    sha256_of,
    taken_at,
)

backup_app = typer.Typer(
    help="Backups of the database, and their restore test.", no_args_is_help=True
)
console = Console(soft_wrap=True, markup=False)
errors = Console(stderr=True, soft_wrap=True, markup=False)
SUFFIX = {"sqlite": "db", "postgresql": "dump"}
# What a restore test counts on the copy, for the record (the trail is checked, not counted).
COUNTED = {"samples": t.samples, "results": t.results, "batches": t.batches,
           "inbox_messages": t.inbox_messages, "audit_entries": t.audit_entries}  # fmt: skip


def _operator() -> Context:
    return Context(f"cli:{getpass.getuser()}", "person")


@backup_app.command("take")
def backup_take(
    out: Annotated[Path, typer.Option(help="The folder to write the backup and its manifest to.")],
) -> None:
    """Copy the database (SQLite: online backup; PostgreSQL: pg_dump, custom format) into OUT
    with a manifest (SHA-256, size, schema revision, the audit trail's head in the copy), and
    record it in the audit trail."""
    settings = Settings()
    clock = SystemClock()
    at = clock.now()
    try:
        kind = kind_of(settings.database_url)
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"labgate-{at:%Y%m%dT%H%M%S}Z.{SUFFIX[kind]}"
        taken = take_backup(settings.database_url, target)
    except (BackupFailed, OSError) as error:
        errors.print(f"error: {error}")
        raise typer.Exit(1) from None
    ctx = _operator()
    manifest = Manifest(
        file=target.name, sha256=sha256_of(target), bytes=target.stat().st_size, database=kind,
        schema_revision=taken.schema_revision, audit_head_seq=taken.head_seq,
        audit_head_hash=taken.head_hash, taken_at=taken_at(at), taken_by=ctx.actor,
        labgate_version=labgate.__version__,
    )  # fmt: skip
    manifest_file = target.with_name(target.name + ".manifest.json")
    manifest_file.write_text(json.dumps(manifest.as_json(), indent=2) + "\n", encoding="utf-8")
    database = open_database(settings)
    try:
        record_backup(database.uow_factory(), ctx, clock.now(), manifest)
    finally:
        database.close()
    console.print(f"backup {target} ({manifest.bytes} bytes, SHA-256 {manifest.sha256})")
    console.print(f"manifest {manifest_file}: schema {manifest.schema_revision}, audit trail up "
                  f"to entry {manifest.audit_head_seq}")  # fmt: skip


@backup_app.command("verify")
def backup_verify(
    manifest_file: Annotated[Path, typer.Argument(help="The backup's .manifest.json.")],
    public_key: Annotated[
        list[Path] | None,
        typer.Option("--public-key", help="labgate's public key(s) the checkpoints are signed by."),
    ] = None,
) -> None:
    """The restore test: the file is the one taken (SHA-256), it restores into a scratch
    database (PostgreSQL: beside LABGATE_DATABASE_URL's, dropped after), its schema is the one
    recorded, its audit trail checks out (chain, head, signed checkpoints) and ends where it did
    when taken. Exit 0 when every check passes, 1 naming the first that failed; recorded in
    the live audit trail."""
    settings = Settings()
    try:
        manifest = Manifest.read(json.loads(manifest_file.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        errors.print(f"error: {manifest_file}: {error}")
        raise typer.Exit(2) from None
    backup = manifest_file.with_name(manifest.file)
    report = RestoreReport(manifest.file)
    report.checks.append(checksum_check(backup, manifest))
    if report.ok:
        _restore_checks(report, manifest, backup, settings, public_key or [])
    database = open_database(settings)
    try:
        record_restore_test(database.uow_factory(), _operator(), SystemClock().now(), report)
    finally:
        database.close()
    for check in report.checks:
        said = "ok" if check.ok else f"FAILED [{check.reason}]"
        console.print(f"{check.name}: {said} — {check.detail}")
    if report.counts:
        counted = ", ".join(f"{n} {k}" for k, n in sorted(report.counts.items()))
        console.print(f"restored: {counted}")
    raise typer.Exit(0 if report.ok else 1)


def _restore_checks(
    report: RestoreReport, manifest: Manifest, backup: Path, settings: Settings, keys: list[Path]
) -> None:
    try:
        with restored(manifest.database, backup, settings.database_url) as url:
            restored_into = f"restored into a scratch {manifest.database} database"
            report.checks.append(Check("restore", True, restored_into))
            engine = create_engine(url)
            try:
                _checks_on_copy(report, manifest, engine, settings, keys)
            finally:
                engine.dispose()
    except BackupFailed as error:
        report.checks.append(Check("restore", False, str(error), "backup.restore_failed"))


def _checks_on_copy(
    report: RestoreReport, manifest: Manifest, engine: Engine, settings: Settings, keys: list[Path]
) -> None:
    revision = current_revision(engine)
    if revision != manifest.schema_revision:
        said = f"schema {revision}, the manifest says {manifest.schema_revision}"
        report.checks.append(Check("schema", False, said, "backup.schema_mismatch"))
        return
    report.checks.append(Check("schema", True, f"schema {revision} as taken"))
    sessions = sessionmaker(engine)
    with snapshot(sessions) as session:
        trail = verify_stored(session, trusted_keys(keys, settings))
        head = read_head(session)
        report.counts = {name: int(session.scalar(select(func.count()).select_from(table)) or 0)
                         for name, table in COUNTED.items()}  # fmt: skip
    if trail.ok:
        report.checks.append(Check("audit_trail", True, f"{trail.checked} entries check out"))
    else:
        report.checks.append(Check("audit_trail", False, trail.problem or "the trail does not "
                                   "check out", trail.reason or "audit.broken"))  # fmt: skip
    report.checks.append(head_check(manifest, head.seq, head.hash))
