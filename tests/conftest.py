"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, a hub, an API client."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `import fakes`, `import plant`

from argon2 import PasswordHasher

from fakes import ManualClock
from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance import passwords
from labgate.config import Settings
from labgate.entrypoints.api.app import create_app

# argon2id at its production cost (64 MiB, three passes) is slow on purpose, and seeding a test
# plant hashes seven passwords: most of the suite's time. In-process tests hash with the same
# algorithm and code path at the lowest cost; hashes carry their parameters, so processes the
# tests start (labgate serve, workers), which keep the production cost, verify them alike.
passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

# Every refusal a test meets must be documented on its operation (entrypoints/api/contract.py).
os.environ.setdefault("LABGATE_STRICT_CONTRACT", "1")
PG_ADMIN = os.environ.get("LABGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _pg_admin(statement: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(statement)


def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Per test worker, a database migrated once to head, of each kind as it is first needed:
    each test's database is a copy of it (a file copy, `CREATE DATABASE … TEMPLATE`), the same
    schema a fresh `upgrade` gives, without running every migration again for every test."""
    made: dict[str, str] = {}
    yield made
    if "postgres" in made:
        _pg_admin(f'DROP DATABASE IF EXISTS "{made["postgres"]}" WITH (FORCE)')


def _template(kind: str, made: dict[str, str], factory: pytest.TempPathFactory) -> str:
    if kind not in made:
        if kind == "sqlite":
            path = factory.mktemp("template") / "labgate.db"
            upgrade(f"sqlite:///{path}")
            made[kind] = str(path)
        else:
            name = f"labgate_template_{secrets.token_hex(6)}"
            _pg_admin(f'CREATE DATABASE "{name}"')
            upgrade(_pg_url(name))
            made[kind] = name
    return made[kind]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_templates: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, or a PostgreSQL database made for the test
    (dropped afterwards); both copies of the worker's migrated template."""
    template = _template(request.param, migrated_templates, tmp_path_factory)
    if request.param == "sqlite":
        for suffix in ("", "-wal"):
            if Path(template + suffix).exists():
                shutil.copy(template + suffix, tmp_path / f"labgate.db{suffix}")
        yield f"sqlite:///{tmp_path / 'labgate.db'}"
        return
    name = f"labgate_test_{secrets.token_hex(6)}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> ManualClock:
    """The trusted clock, under the test's control."""
    return ManualClock(START)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for a test hub: a random token secret, not demo mode."""
    return Settings(database_url=database_url, token_secret=secrets.token_urlsafe(32))


@pytest.fixture
def hub(settings: Settings, clock: ManualClock) -> Iterator[Hub]:
    """A hub on the test database."""
    built = bootstrap(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def client(settings: Settings, hub: Hub) -> Iterator[TestClient]:
    """The REST API in-process."""
    with TestClient(create_app(settings, hub)) as test_client:
        yield test_client
