"""What the contract run needs besides schemathesis: the demo plant seeded once, a copy of it per
role, the keys of its records for path parameters, and the run's bounded configuration."""

from __future__ import annotations

import io
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import create_engine, text

from hubproc import write_key
from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.access import ROLE_PERMISSIONS, Permission, Role
from labgate.config import Settings
from labgate.domain.commands import Context
from labgate.domain.interface_commands import RegisterSourceKey
from labgate.entrypoints.app import create_app
from labgate.entrypoints.cli import demo
from labgate.service.schema_catalog import json_schemas

# The demo plant's account for every role of compliance/access.py: people sign in for a bearer
# token, the MES and LIMS system accounts send their API keys.
ROLE_OF = {
    "admin": Role.INTEGRATION_ADMIN,
    "analyst": Role.QC_ANALYST,
    "reviewer": Role.QC_REVIEWER,
    "qa": Role.QA,
    "production": Role.PRODUCTION,
    "auditor": Role.AUDITOR,
    "mes": Role.MES_SYSTEM,
    "lims": Role.LIMS_SYSTEM,
}
SYSTEMS = ("mes", "lims")

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
SEED = 20261125  # one fixed seed: the same requests on every run, so a failure reproduces
# Generated requests per operation and role, valid and invalid data together. The budget is what
# `make test` can spend (about three minutes on two cores), so it goes where a request gets past
# the permission check to the rules behind it: an operation the role may not call is answered
# 403 whatever is sent, one request checks that answer; each operation is fuzzed deeper once, as
# one of the roles it admits. (The coverage phase, every boundary of every field, alone asks
# about 4,000 requests: more than the whole budget.)
EXAMPLES_REFUSED = 1
EXAMPLES_ALLOWED = 4
EXAMPLES_DEEP = 12
# Printed records (PDF) and plots take seconds each to render: fewer requests there.
SLOW = r"/(dossier|coa|report|plot|trend)$"
EXAMPLES_SLOW = 2

# Path parameters and the records that fill them: drawn from the plant most of the time, so the
# handlers behind a known key are reached, and generated otherwise (unknown keys: 404s).
KEYS: dict[str, str] = {
    "site": "SELECT code FROM sites",
    "batch": "SELECT code FROM batches",
    "sample": "SELECT code FROM samples",
    "mes_request_id": "SELECT mes_request_id FROM samples WHERE mes_request_id IS NOT NULL",
    "result": "SELECT code FROM results",
    "deviation": "SELECT code FROM deviations",
    "em_round": "SELECT code FROM em_rounds",
    "em_sample": "SELECT code FROM em_samples",
    "excursion": "SELECT code FROM em_excursions",
    "lot": "SELECT code FROM received_lots",
    "material": "SELECT material FROM skip_lot_plans",
    "supplier": "SELECT supplier FROM skip_lot_plans",
    "study": "SELECT code FROM stability_studies",
    "alert": "SELECT code FROM oot_alerts",
    "specification": "SELECT specification FROM spec_versions",
    "version": "SELECT version FROM spec_versions",
    "username": "SELECT username FROM accounts",
    "source": "SELECT DISTINCT source FROM identity_map",
    "external_id": "SELECT external_id FROM identity_map",
    "kid": "SELECT kid FROM source_keys",
    "message_id": "SELECT message_id FROM outbox",
    "item": "SELECT id FROM quarantine",
}
REAL_KEY_SHARE = 0.8


@dataclass(frozen=True)
class Template:
    """The demo plant, seeded once per worker: its database, credentials and record keys."""

    url: str
    credentials: dict[str, str]
    keys: dict[str, list[Any]]


@dataclass(frozen=True)
class RoleRun:
    """One role's run: its own copy of the plant, the app on it and the role's credentials."""

    role: str
    app: FastAPI
    hub: Hub
    headers: dict[str, str]


def seed_template(url: str, folder: Path) -> Template:
    """The demo plant in the (empty) database at `url`, with a key registered per partner (its
    files in `folder`) and one quarantined message, so every kind of path key has a record."""
    upgrade(url)
    settings = Settings(database_url=url, demo=True)
    hub = bootstrap(settings)
    try:
        credentials = demo.seed(hub, Console(file=io.StringIO()))
        since = datetime.now(UTC) - timedelta(days=1)
        for source in SYSTEMS:
            kid = f"{source}-contract-1"
            public = write_key(folder / "keys", kid)
            why = "CR-CONTRACT: partner key"
            hub.bus.handle(
                RegisterSourceKey(Context("admin"), source, kid, public, since, None, why)
            )
        with TestClient(create_app(settings, hub)) as client:
            sent = client.post(
                "/api/v1/inbox",
                content=b"not an envelope",
                headers={"X-API-Key": credentials["mes"], "Content-Type": "application/json"},
            )
            assert sent.status_code < 500, sent.text
    finally:
        hub.close()
    engine = create_engine(url)
    with engine.connect() as connection:
        keys = {
            name: sorted({row[0] for row in connection.execute(text(query))})
            for name, query in KEYS.items()
        }
    engine.dispose()
    keys["schema_id"] = sorted(json_schemas())
    return Template(url, credentials, keys)


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database in WAL mode (the backup API, not a file copy)."""
    with sqlite3.connect(source) as reading, sqlite3.connect(target) as writing:
        reading.backup(writing)
    reading.close()
    writing.close()


def role_settings(url: str) -> Settings:
    """The app's settings for one role's run, on its copy of the plant at `url`."""
    return Settings(
        database_url=url,
        token_secret=secrets.token_urlsafe(32),
        # Strict always: the contract run is where every refusal's reason code is checked.
        strict_contract=True,
        # Each role stays signed in for its whole run: generated passwords (its own password
        # change, its signatures) would otherwise lock it out after five, and anonymous requests
        # would be throttled; both rules have tests of their own (tests/e2e).
        lockout_after=1_000_000,
        anonymous_refusals_per_minute=100_000,
    )


def credentials_of(app: FastAPI, role: str, secret: str) -> dict[str, str]:
    """The headers the role's account sends: a bearer token it signs in for, or its API key."""
    if role in SYSTEMS:
        return {"X-API-Key": secret}
    with TestClient(app) as client:
        answer = client.post("/api/v1/token", data={"username": role, "password": secret})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@dataclass(frozen=True)
class Share:
    """The operations a role's run fuzzes beyond one request: those its permissions admit, and
    among them those it fuzzes deeper."""

    allowed: list[str]
    deep: list[str]


def share_of(app: FastAPI, role: str) -> Share:
    """This role's share. Each operation is fuzzed deeper by one of the roles it admits, taken
    in turn over the operations, so the deep work spreads over the roles (and test files)."""
    allowed, deep = [], []
    for index, (label, permission) in enumerate(sorted(operation_permissions(app).items())):
        admitted = [
            name
            for name, held in ROLE_OF.items()
            if permission is None or permission in ROLE_PERMISSIONS[held]
        ]
        if role in admitted:
            allowed.append(label)
            if admitted[index % len(admitted)] == role:
                deep.append(label)
    return Share(allowed, deep)


def operation_permissions(app: FastAPI) -> dict[str, Permission | None]:
    """Every operation of the OpenAPI ("GET /path") and the permission its route requires."""
    found: dict[str, Permission | None] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        held = (getattr(call, "permission", None) for call in _calls(context.dependant))
        permission = next((p for p in held if p is not None), None)
        for method in route.methods or ():
            found[f"{method} {route.path_format}"] = permission
    return found


def _calls(dependant: Dependant) -> Iterator[Any]:
    for child in dependant.dependencies:
        yield child.call
        yield from _calls(child)


def contract_config(template: Template, share: Share) -> schemathesis.Config:
    """Bounded and deterministic: a fixed seed, few examples (see EXAMPLES_*), no example
    database on disk; valid and invalid data (so the 422 paths are tried); the five response
    checks and no others."""
    dictionaries = {name: {"values": values} for name, values in template.keys.items() if values}
    parameters = {
        f"path.{name}": {"dictionary": name, "probability": REAL_KEY_SHARE} for name in dictionaries
    }
    checks: dict[str, Any] = {"enabled": False}
    checks.update({name: {"enabled": True} for name in CHECKS})
    # The first entry that names an operation sets its number of examples.
    operations: list[dict[str, Any]] = [
        {"include-path-regex": SLOW, "generation": {"max-examples": EXAMPLES_SLOW}}
    ]
    for names, examples in ((share.deep, EXAMPLES_DEEP), (share.allowed, EXAMPLES_ALLOWED)):
        if names:
            operations.append({"include-name": names, "generation": {"max-examples": examples}})
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES_REFUSED,
                "database": "none",
                "no-shrink": True,
                "with-security-parameters": False,
            },
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
            "checks": checks,
            "dictionaries": dictionaries,
            "parameters": parameters,
            "operations": operations,
        }
    )
