"""Backups of labgate's database and their restore into a scratch database (Annex 11 §7.2:
"regular backups … restore tested"). SQLite: the online backup API (a consistent copy while
the hub writes, WAL included). PostgreSQL: pg_dump's custom format, restored with pg_restore
into a database made for the check and dropped after it. The tools made for the job, so a
plant's DBA can restore a labgate backup by hand the same way."""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL, make_url


class BackupFailed(Exception):
    """The database could not be copied or restored (the tool's own words)."""


def kind_of(url: str) -> str:
    """`sqlite` or `postgresql`."""
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupFailed(f"labgate backs up SQLite and PostgreSQL databases, not {backend}")
    return backend


@dataclass(frozen=True)
class Taken:
    """What the copy holds: the audit trail's head and the schema revision, read from the very
    snapshot that was copied (a head read before or after could be another entry)."""

    head_seq: int
    head_hash: str
    schema_revision: str | None


_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1"
_REVISION = "SELECT version_num FROM alembic_version"


def take_backup(url: str, target: Path) -> Taken:
    """Copy the database at `url` into the file `target` (made; never overwritten)."""
    if target.exists():
        raise BackupFailed(f"{target} exists; a backup never overwrites a file")
    if kind_of(url) == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)
            head = copy.execute(_HEAD).fetchone()
            revision = copy.execute(_REVISION).fetchone()
        finally:
            copy.close()
            source.close()
        return Taken(int(head[0]), str(head[1]), revision[0] if revision else None)
    # pg_dump copies the snapshot this transaction exported: the head read here is the dump's.
    address, env = _libpq(make_url(url))
    with psycopg.connect(_psycopg(make_url(url))) as connection:
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        exported = connection.execute("SELECT pg_export_snapshot()").fetchone()
        head = connection.execute(_HEAD).fetchone()
        revision = connection.execute(_REVISION).fetchone()
        assert exported is not None and head is not None
        _run(["pg_dump", "--format=custom", "--no-owner", f"--snapshot={exported[0]}",
              "--file", str(target), address], env)  # fmt: skip
    return Taken(int(head[0]), str(head[1]), revision[0] if revision else None)


@contextmanager
def restored(kind: str, backup: Path, admin_url: str | None = None) -> Iterator[str]:
    """The backup restored into a scratch database, for as long as the block runs: its URL.
    PostgreSQL needs `admin_url`, a database URL on the server to restore into (a scratch
    database is created beside it and dropped afterwards)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="labgate-restore-") as folder:
            copy = Path(folder) / "restored.db"
            shutil.copyfile(backup, copy)
            yield f"sqlite:///{copy}"
        return
    if admin_url is None:
        raise BackupFailed("restoring a PostgreSQL backup needs a server: LABGATE_DATABASE_URL")
    server = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"labgate_restore_{secrets.token_hex(4)}"
    admin = _psycopg(server)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        address, env = _libpq(server.set(database=name))
        _run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", address, str(backup)],
             env)  # fmt: skip
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlite_path(url: str) -> str:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("an in-memory SQLite database has nothing to back up")
    return database


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq address without the password (it goes in PGPASSWORD, never on a command line
    another user could read in the process list)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _psycopg(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise BackupFailed(f"{command[0]} is not installed (PostgreSQL's client tools)") from error
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise BackupFailed(f"{command[0]} failed: {said[-1] if said else done.returncode}")
