"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, a hub, an API client."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
from labgate.entrypoints.app import create_app
from plant import SeededPlant, seed
from traced import record_requirements

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
    _PG_SPARES.close()
    for kind in ("postgres+plant", "postgres"):  # the seeded copy first: it was made from the other
        if kind in made:
            _pg_admin(f'DROP DATABASE IF EXISTS "{made[kind]}" WITH (FORCE)')


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


def _pg_copy(template: str) -> str:
    name = f"labgate_test_{secrets.token_hex(6)}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


class _PgSpares:
    """Per worker, for each PostgreSQL template, the next test's copy of it, made in a thread
    while the current test runs: `CREATE DATABASE … TEMPLATE` spends about half a second waiting
    for the server's disk, which the test need not wait for. Each copy is still a fresh copy of
    its template, used by one test only and dropped after it."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._next: dict[str, Future[str]] = {}

    def take(self, template: str) -> str:
        """A fresh copy of `template` (the one made ahead, else made now); the next one begun."""
        ahead = self._next.pop(template, None)
        name = ahead.result() if ahead is not None else _pg_copy(template)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="pg-spare")
        self._next[template] = self._pool.submit(_pg_copy, template)
        return name

    def close(self) -> None:
        """Drop the copies made ahead that no test took."""
        for ahead in self._next.values():
            with contextlib.suppress(Exception):
                _pg_admin(f'DROP DATABASE IF EXISTS "{ahead.result()}" WITH (FORCE)')
        self._next.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


_PG_SPARES = _PgSpares()
_SEEDED: dict[str, SeededPlant] = {}  # by template kind, in this worker's process


def _seeded_template(kind: str, made: dict[str, str], factory: pytest.TempPathFactory) -> str:
    """The migrated template of `kind`, copied once per worker and seeded with the test plant
    by `plant.seed` exactly as a test would seed it: a hub on the same default settings whose
    clock stands at START (seed's audit entries and times are those a test's seed gives)."""
    key = f"{kind}+plant"
    if key not in made:
        migrated = _template(kind, made, factory)
        if kind == "sqlite":
            folder = factory.mktemp("seeded")
            _copy_sqlite(migrated, folder / "labgate.db")
            name, url = str(folder / "labgate.db"), f"sqlite:///{folder / 'labgate.db'}"
        else:
            name = _PG_SPARES.take(migrated)
            url = _pg_url(name)
        settings = Settings(database_url=url, token_secret=secrets.token_urlsafe(32))
        hub = bootstrap(settings, clock=ManualClock(START))
        try:
            with TestClient(create_app(settings, hub)) as client:
                seeded = seed(hub, client)
        finally:
            hub.close()  # no connection left: PostgreSQL copies only an idle template
        _SEEDED[kind] = SeededPlant(seeded.passwords, seeded.api_keys)
        made[key] = name
    return made[key]


def _copy_sqlite(template: str, target: Path) -> None:
    for suffix in ("", "-wal"):
        if Path(template + suffix).exists():
            shutil.copy(template + suffix, f"{target}{suffix}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_templates: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, or a PostgreSQL database made for the test
    (dropped afterwards); both copies of the worker's migrated template. A test that asks for
    `seeded_plant` gets a copy of the worker's template with the test plant already seeded."""
    if "seeded_plant" in request.fixturenames:
        template = _seeded_template(request.param, migrated_templates, tmp_path_factory)
    else:
        template = _template(request.param, migrated_templates, tmp_path_factory)
    if request.param == "sqlite":
        _copy_sqlite(template, tmp_path / "labgate.db")
        yield f"sqlite:///{tmp_path / 'labgate.db'}"
        return
    name = _PG_SPARES.take(template)
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def seeded_plant(request: pytest.FixtureRequest, database_url: str) -> SeededPlant:
    """The test plant of tests/plant.py, seeded into this test's database before the test's hub
    opened it (`database_url` copies a seeded template): `seeded_plant.on(client)` is the Plant
    that `seed(hub, client)` returns. Only for tests whose hub has START's clock and the default
    settings (seed's own entries are stamped with the template hub's)."""
    clock = request.getfixturevalue("clock")
    assert clock.now() == START, "the seeded template's entries are stamped at START"
    return _SEEDED["sqlite" if database_url.startswith("sqlite") else "postgres"]


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


# The longest files (seconds of test time in one `make test` run on the two-core machine, before
# the seeded template). `--dist loadfile` hands a file whole to one worker, and by default the
# files with the most tests first, so these few-test, long files came last and could leave one
# worker running alone at the end; the Makefile passes --no-loadscope-reorder, and they start
# first, in this order. Only the order of whole files changes; a file's tests keep theirs.
LONGEST_FILES_FIRST = (
    "tests/e2e/test_sims.py",  # 391 s: the simulators over every channel, as processes
    "tests/e2e/test_packs_cli.py",  # 283 s: the files worker and the packs CLI, as processes
    "tests/contract/test_schemathesis_lab.py",  # 139 s
    "tests/contract/test_schemathesis_oversight.py",  # 137 s
    "tests/e2e/test_refusals.py",  # 110 s
    "tests/e2e/test_workers.py",  # 103 s
    "tests/e2e/test_implementers_doc.py",  # 95 s
    "tests/e2e/test_rest_lims_connector.py",  # 79 s
    "tests/contract/test_schemathesis_quality.py",  # 71 s
    "tests/e2e/test_cli_start.py",  # 60 s
    "tests/contract/test_schemathesis_plant.py",  # 52 s
)


def pytest_itemcollected(item: pytest.Item) -> None:
    record_requirements(item)  # the validation pack's trace: see tests/traced.py


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: place for place, path in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
