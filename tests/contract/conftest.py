"""The contract run: schemathesis over the app's own /openapi.json, once per role, each on its
own copy of the demo plant; half the roles on PostgreSQL, half on SQLite, so what one database
refuses that the other takes (a NUL character, a length, a range) is met too.

In process (ASGI) rather than against `labgate serve`: the app is the same one the server runs,
minus the socket, so a fault surfaces with its traceback, no port or process is shared between
the xdist workers, and the suite's low-cost password hashing (tests/conftest.py) applies."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import schemathesis
from contract_plant import (
    RoleRun,
    Template,
    contract_config,
    copy_database,
    credentials_of,
    role_settings,
    seed_template,
    share_of,
)

from hubproc import pg_admin, pg_url
from labgate.bootstrap import bootstrap
from labgate.entrypoints.app import create_app

# Memory-backed when the machine has it: the run commits a few thousand audited refusals, and
# SQLite's synchronous=FULL would wait for the disk at each one.
SHARED_MEMORY = "/dev/shm"


@pytest.fixture(scope="session")
def sqlite_plant(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The demo plant on SQLite, seeded once per worker (about fifteen seconds)."""
    folder = tmp_path_factory.mktemp("contract-plant")
    return seed_template(f"sqlite:///{folder / 'labgate.db'}", folder)


@pytest.fixture(scope="session")
def postgres_plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """The demo plant in a PostgreSQL database of its own, seeded once per worker; each role's
    copy is made from it as a template."""
    name = f"labgate_contract_{secrets.token_hex(5)}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield seed_template(pg_url(name), tmp_path_factory.mktemp("contract-plant-pg"))
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def role(request: pytest.FixtureRequest) -> str:
    """The account the run speaks as; each test module names its roles (indirect parameter)."""
    name: str = request.param
    return name


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """The database the role's run is on: "sqlite" or "postgres" (indirect parameter)."""
    kind: str = request.param
    return kind


@pytest.fixture
def plant_template(request: pytest.FixtureRequest, database: str) -> Template:
    """The seeded plant of this run's database (only that one is seeded)."""
    template: Template = request.getfixturevalue(f"{database}_plant")
    return template


@pytest.fixture
def role_run(role: str, database: str, plant_template: Template) -> Iterator[RoleRun]:
    """A fresh copy of the plant for this role: what one role's run changes, no other sees."""
    with plant_copy(plant_template, database) as url:
        settings = role_settings(url)
        hub = bootstrap(settings)
        try:
            app = create_app(settings, hub)
            headers = credentials_of(app, role, plant_template.credentials[role])
            yield RoleRun(role, app, hub, headers)
        finally:
            hub.close()


@pytest.fixture
def contract_schema(
    request: pytest.FixtureRequest, role_run: RoleRun, plant_template: Template
) -> schemathesis.BaseSchema:
    """The OpenAPI as the app serves it at /openapi.json, with the contract run's settings."""
    # schemathesis 4.32 reads `item._nodeid` for schemas from a fixture; pytest 9.2 keeps node
    # ids elsewhere (`_id`). Give it the id to read; pytest's own is left as it is.
    request.node._nodeid = request.node.nodeid
    config = contract_config(plant_template, share_of(role_run.app, role_run.role))
    return schemathesis.openapi.from_asgi("/openapi.json", role_run.app, config=config)


@contextmanager
def plant_copy(template: Template, database: str) -> Iterator[str]:
    """A copy of the seeded plant, removed afterwards; its URL."""
    if database == "postgres":
        name = f"labgate_contract_{secrets.token_hex(5)}"
        source = template.url.rsplit("/", 1)[1]
        pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        try:
            yield pg_url(name)
        finally:
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    memory = os.path.isdir(SHARED_MEMORY) and os.access(SHARED_MEMORY, os.W_OK)
    folder = Path(tempfile.mkdtemp(dir=SHARED_MEMORY if memory else None))
    try:
        copy_database(Path(template.url.removeprefix("sqlite:///")), folder / "labgate.db")
        yield f"sqlite:///{folder / 'labgate.db'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
