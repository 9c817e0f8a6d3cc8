"""The contract run: schemathesis over the app's own /openapi.json, once per role, each on its
own copy of the demo plant.

In process (ASGI) rather than against `labgate serve`: the app is the same one the server runs,
minus the socket, so a fault surfaces with its traceback, no port or process is shared between
the xdist workers, and the suite's low-cost password hashing (tests/conftest.py) applies."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
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

from labgate.bootstrap import bootstrap
from labgate.entrypoints.api.app import create_app

# Memory-backed when the machine has it: the run commits a few thousand audited refusals, and
# synchronous=FULL would wait for the disk at each one.
SHARED_MEMORY = "/dev/shm"


@pytest.fixture(scope="session")
def plant_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The demo plant, seeded once per worker (about fifteen seconds)."""
    return seed_template(tmp_path_factory.mktemp("contract-plant"))


@pytest.fixture
def role(request: pytest.FixtureRequest) -> str:
    """The account the run speaks as; each test module names its roles (indirect parameter)."""
    name: str = request.param
    return name


@pytest.fixture
def role_run(role: str, plant_template: Template, tmp_path: Path) -> Iterator[RoleRun]:
    """A fresh copy of the plant for this role: what one role's run changes, no other sees."""
    memory = os.path.isdir(SHARED_MEMORY) and os.access(SHARED_MEMORY, os.W_OK)
    folder = Path(tempfile.mkdtemp(dir=SHARED_MEMORY)) if memory else tmp_path
    try:
        database = folder / "labgate.db"
        copy_database(plant_template.database, database)
        settings = role_settings(database)
        hub = bootstrap(settings)
        try:
            app = create_app(settings, hub)
            headers = credentials_of(app, role, plant_template.credentials[role])
            yield RoleRun(role, app, hub, headers)
        finally:
            hub.close()
    finally:
        if memory:
            shutil.rmtree(folder, ignore_errors=True)


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
