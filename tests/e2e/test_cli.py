"""The `labgate` command line as an operator drives it: through the real Typer app on a fresh
SQLite file (and PostgreSQL where cheap), and once through the installed console script."""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer
import typer.main
import uvicorn
import yaml
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.pool import QueuePool
from typer.testing import CliRunner, Result

from labgate.adapters.reports.audit_export import COLUMNS
from labgate.adapters.store import em_views
from labgate.adapters.store import tables as t
from labgate.adapters.store.migrate import SchemaBehind, current_revision, head_revision
from labgate.adapters.store.views import batch_view, deviation_view, sample_view
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.access import Account
from labgate.compliance.audit import AuditDraft, AuditEntry, verify_chain
from labgate.compliance.passwords import hash_api_key, password_matches
from labgate.config import Settings
from labgate.entrypoints import app as api_module
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.app import create_app
from labgate.entrypoints.cli.demo import PEOPLE, SYSTEMS, plant_document
from labgate.entrypoints.cli.main import Commands, app

SCRIPT = Path(sys.executable).with_name("labgate")
DEMO_PLANT = Path(__file__).resolve().parents[2] / "src" / "labgate" / "demo" / "plant.yaml"
PG_ADMIN = os.environ.get("LABGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "correct horse battery staple"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def labgate(
    url: str, *args: str, input: str | None = None, demo: bool = False, secret: bool = True
) -> Result:
    """Run `labgate ARGS` in-process against the database at `url`."""
    env = {
        "LABGATE_DATABASE_URL": url,
        "LABGATE_DEMO": "1" if demo else None,
        "LABGATE_TOKEN_SECRET": secrets.token_urlsafe(32) if secret else None,
    }
    return CliRunner().invoke(app, list(args), input=input, env=env)


@contextmanager
def open_hub(url: str) -> Iterator[Hub]:
    """A hub for looking at what the CLI left behind."""
    hub = bootstrap(Settings(database_url=url))
    try:
        yield hub
    finally:
        hub.close()


def count(url: str, table: Any) -> int:
    with open_hub(url) as hub, hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def account(url: str, username: str) -> Account | None:
    with open_hub(url) as hub, hub.sessions() as session:
        return session.scalars(select(Account).filter_by(username=username)).one_or_none()


@contextmanager
def empty_postgres() -> Iterator[str]:
    """A PostgreSQL database with nothing in it, dropped afterwards."""
    name = f"labgate_cli_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def empty_database(backend: str, folder: Path) -> Iterator[str]:
    """A database no `db upgrade` has touched: a SQLite file not yet made, or an empty one."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'fresh' / 'labgate.db'}"
        return
    with empty_postgres() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_database(request.param, tmp_path) as url:
        yield url


# --- the installed console script ------------------------------------------------------------


def script(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `labgate` script in its own process."""
    assert SCRIPT.exists(), f"{SCRIPT} is missing; install labgate into the venv (pip install -e .)"
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_installed_script_runs_and_evaluates() -> None:
    helped = script("--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("serve", "db", "users", "masterdata", "audit", "demo", "evaluate"):
        assert command in helped.stdout

    judged = script(
        "evaluate", "--rule", "usp", "--limit", "NLT 98.0", "--value", "97.96", "--json"
    )
    assert judged.returncode == 0, judged.stderr
    report = json.loads(judged.stdout)
    assert report["conforms"] is True
    assert report["reported"] == "98.0"

    refused = script("evaluate", "--rule", "banker", "--limit", "NLT 98.0", "--value", "97.96")
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "The rounding rule 'banker' is unknown; use one of" in refused.stderr
    assert "Traceback" not in refused.stderr


# --- schema: db upgrade, and refusing a schema that is behind --------------------------------


def test_db_upgrade_creates_the_schema_and_is_idempotent(empty_url: str) -> None:
    first = labgate(empty_url, "db", "upgrade")
    assert first.exit_code == 0, first.output
    assert "is up to date" in first.stdout
    second = labgate(empty_url, "db", "upgrade")
    assert second.exit_code == 0, second.output

    engine = create_engine(empty_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    assert count(empty_url, t.audit_head) == 1  # seed rows written once, not once per upgrade
    assert count(empty_url, t.status_rules) == 4


def test_db_upgrade_on_a_current_database_changes_nothing(database_url: str) -> None:
    result = labgate(database_url, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert count(database_url, t.audit_head) == 1


def test_create_app_refuses_an_empty_database_naming_the_fix(empty_url: str) -> None:
    settings = Settings(database_url=empty_url, token_secret=secrets.token_urlsafe(32))
    hub = bootstrap(settings)
    try:
        with pytest.raises(SchemaBehind) as refused:
            create_app(settings, hub)
    finally:
        hub.close()
    assert "labgate db upgrade" in refused.value.message
    assert refused.value.reason == "db.schema_behind"
    assert http_status(refused.value) == 503


def test_create_app_accepts_the_database_once_upgraded(empty_url: str) -> None:
    assert labgate(empty_url, "db", "upgrade").exit_code == 0
    settings = Settings(database_url=empty_url, token_secret=secrets.token_urlsafe(32))
    hub = bootstrap(settings)
    try:
        assert create_app(settings, hub).title == "labgate"
    finally:
        hub.close()


def test_create_app_closes_the_hub_it_built_when_it_refuses(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Hub] = []

    def recording_bootstrap(settings: Settings) -> Hub:
        built.append(bootstrap(settings))
        return built[-1]

    monkeypatch.setattr(api_module, "bootstrap", recording_bootstrap)
    try:
        with pytest.raises(SchemaBehind):
            create_app(Settings(database_url=empty_url, token_secret="s" * 40))
        pool = built[0].engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedin() == 0, "a pooled connection was left open"
    finally:
        for hub in built:
            hub.close()


def refuse_to_serve(*args: object, **kwargs: object) -> None:
    raise AssertionError("labgate serve started a server on a schema that is behind")


def test_serve_refuses_an_empty_database_and_exits(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uvicorn, "run", refuse_to_serve)  # a regression fails, never hangs
    if empty_url.startswith("sqlite:///"):
        sqlite_file = Path(empty_url.removeprefix("sqlite:///"))
        sqlite_file.parent.mkdir(parents=True)
        sqlite_file.touch()  # an empty file: a database with no schema at all
    result = labgate(empty_url, "serve", "--port", "8123")
    assert result.exit_code == 1
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line, "the sentence is printed on one line, for logs and grep"
    assert "but this labgate needs" in line
    assert line.endswith("Run `labgate db upgrade` first. [db.schema_behind]")


def test_serve_starts_on_an_up_to_date_database(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: dict[str, Any] = {}

    def fake_run(api: object, **options: Any) -> None:
        served.update(options, api=api)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    result = labgate(database_url, "serve", "--host", "127.0.0.2", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert "labgate serving on http://127.0.0.2:8123" in result.stdout
    assert (served["host"], served["port"]) == ("127.0.0.2", 8123)


def test_serve_refuses_to_start_without_a_token_secret(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uvicorn, "run", refuse_to_serve)
    result = labgate(database_url, "serve", secret=False)
    assert result.exit_code == 1
    assert "Set LABGATE_TOKEN_SECRET (32+ characters), or run in demo mode." in result.stderr


# --- users -----------------------------------------------------------------------------------


def test_users_create_a_person_with_a_prompted_password(database_url: str) -> None:
    result = labgate(
        database_url,
        *("users", "create", "alice", "--name", "Alice Analyst", "--role", "qc_analyst"),
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "created alice" in result.stdout
    assert PASSWORD not in result.output  # the prompt hides what was typed
    person = account(database_url, "alice")
    assert person is not None and person.kind == "person" and person.roles == ["qc_analyst"]
    assert password_matches(person.password_hash, PASSWORD)
    with open_hub(database_url) as hub, hub.sessions() as session:
        entry = session.execute(select(t.audit_entries)).one()
    assert (entry.action, entry.record_id) == ("account.created", "alice")
    assert entry.actor.startswith("cli:") and entry.actor_kind == "system"


def test_users_create_a_system_account_prints_its_api_key_once(database_url: str) -> None:
    result = labgate(
        database_url,
        *("users", "create", "mes1", "--name", "Demo MES", "--role", "mes_system", "--system"),
    )
    assert result.exit_code == 0, result.output
    assert "Password" not in result.stdout  # no prompt for a system account
    keys = re.findall(r"lgk_[A-Za-z0-9_-]+", result.stdout)
    assert len(keys) == 1
    system = account(database_url, "mes1")
    assert system is not None and system.kind == "system"
    assert system.api_key_hash == hash_api_key(keys[0])
    assert system.password_hash is None
    listed = labgate(database_url, "users", "list")
    assert keys[0] not in listed.stdout  # shown once: never again


def test_users_list_shows_every_account(database_url: str) -> None:
    pw = f"{PASSWORD}\n{PASSWORD}\n"
    labgate(database_url, "users", "create", "qa1", "--name", "Q A", "--role", "qa", input=pw)
    system = ("users", "create", "lims1", "--name", "LIMS", "--role", "lims_system", "--system")
    labgate(database_url, *system)
    result = labgate(database_url, "users", "list")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows["qa1"] == ["qa1", "Q A", "person", "qa", "temp password"]
    assert rows["lims1"] == ["lims1", "LIMS", "system", "lims_system", "active"]


def test_users_list_shows_a_lock_that_has_ended_as_ended(database_url: str) -> None:
    pw = f"{PASSWORD}\n{PASSWORD}\n"
    for user in ("ended", "still"):
        labgate(database_url, "users", "create", user, "--name", user, "--role", "qa", input=pw)
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for user, until in (
            ("ended", now - timedelta(minutes=1)),
            ("still", now + timedelta(hours=1)),
        ):
            connection.execute(
                update(t.accounts).where(t.accounts.c.username == user)
                .values(locked_at=now - timedelta(minutes=31), locked_until=until)
            )  # fmt: skip
    engine.dispose()
    rows = table_rows(labgate(database_url, "users", "list").stdout)
    assert (rows["ended"][4], rows["still"][4]) == ("temp password", "locked")


def test_users_list_shows_printed_names_as_written(database_url: str) -> None:
    name = "Ada Lovelace [contractor]"
    created = labgate(
        database_url,
        *("users", "create", "ada", "--name", name, "--role", "qc_reviewer"),
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert created.exit_code == 0, created.output
    rows = table_rows(labgate(database_url, "users", "list").stdout)
    assert rows["ada"][1] == name  # the printed name signatures carry, not rich markup


def test_users_create_refuses_a_short_password(database_url: str) -> None:
    result = labgate(
        database_url,
        *("users", "create", "bob", "--name", "Bob", "--role", "qc_analyst"),
        input="pw\npw\n",
    )
    assert result.exit_code == 1
    assert "A password needs at least 12 characters. [account.weak_password]" in result.stderr
    assert account(database_url, "bob") is None


def test_users_create_refuses_a_user_id_twice(database_url: str) -> None:
    args = ("users", "create", "sam", "--name", "Sam", "--role", "mes_system", "--system")
    assert labgate(database_url, *args).exit_code == 0
    again = labgate(database_url, *args)
    assert again.exit_code == 1
    assert "User id sam exists; user ids are never reused." in again.stderr


# --- master data -----------------------------------------------------------------------------


def person(url: str, username: str, role: str) -> None:
    """A person account with PASSWORD as their own (the temporary one changed)."""
    temporary = f"{PASSWORD} (temporary)"
    made = labgate(url, "users", "create", username, "--name", username.title(), "--role", role,
                   input=f"{temporary}\n{temporary}\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    changed = labgate(url, "users", "change-password", username,
                      input=f"{temporary}\n{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert changed.exit_code == 0, changed.output


def import_as_ines(url: str, path: Path | str, *more: str, password: str = PASSWORD) -> Result:
    """`labgate masterdata import PATH --as ines` (an integration admin, made on first use)."""
    if account(url, "ines") is None:
        person(url, "ines", "integration_admin")
    args = ("masterdata", "import", str(path), *more, "--as", "ines")
    return labgate(url, *args, input=f"{password}\n")


def test_masterdata_import_loads_the_demo_plant(database_url: str) -> None:
    result = import_as_ines(database_url, DEMO_PLANT, "--reason", "CR-42: demo plant")
    assert result.exit_code == 0, result.output
    assert "created" in result.stdout and PASSWORD not in result.output
    document = plant_document()
    assert count(database_url, t.batches) == len(document["batches"])
    with open_hub(database_url) as hub, hub.sessions() as session:
        entries = select(t.audit_entries.c.actor, t.audit_entries.c.reason)
        rows = session.execute(entries.where(t.audit_entries.c.record_type != "account")).all()
        authors = set(session.scalars(select(t.spec_versions.c.author)))
    # The import is the signed-in person's act, and the specification versions are theirs.
    assert {(row.actor, row.reason) for row in rows} == {("ines", "CR-42: demo plant")}
    assert authors == {"ines"}


@pytest.mark.requirement("URS-P11-11.10g", category="negative")
def test_masterdata_import_refuses_a_wrong_password_or_a_role_without_the_permission(
    database_url: str,
) -> None:
    wrong = import_as_ines(database_url, DEMO_PLANT, "--reason", "CR-46", password="not it")
    assert wrong.exit_code == 1
    assert "auth." in wrong.stderr or "password" in wrong.stderr.lower()
    person(database_url, "quinn", "qa")
    args = ("masterdata", "import", str(DEMO_PLANT), "--reason", "CR-46", "--as", "quinn")
    refused = labgate(database_url, *args, input=f"{PASSWORD}\n")
    assert refused.exit_code == 1
    assert "manage_masterdata" in refused.stderr
    assert count(database_url, t.sites) == 0  # nothing loaded by either


def write_broken_plant(folder: Path, change: Any) -> Path:
    document = plant_document()
    change(document)
    path = folder / "broken.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_masterdata_import_refuses_a_broken_file_naming_the_field(
    database_url: str, tmp_path: Path
) -> None:
    broken = write_broken_plant(tmp_path, lambda d: d["site"].pop("name"))
    result = import_as_ines(database_url, broken, "--reason", "CR-43: broken site")
    assert result.exit_code == 1
    assert "site.name is required" in result.stderr
    assert count(database_url, t.sites) == 0  # nothing of the document was loaded


def test_masterdata_import_names_where_a_broken_limit_is(database_url: str, tmp_path: Path) -> None:
    def break_a_limit(document: dict[str, Any]) -> None:
        document["specifications"][1]["versions"][1]["limits"][1]["limit"] = "NMTX 2.0"

    broken = write_broken_plant(tmp_path, break_a_limit)
    result = import_as_ines(database_url, broken, "--reason", "CR-44: broken limit")
    assert result.exit_code == 1
    # Four specification versions have a WATER limit: the path says which one is wrong.
    assert "specifications[1].versions[1].limits[1].limit" in result.stderr
    assert count(database_url, t.spec_versions) == 0


def test_masterdata_import_refuses_unreadable_yaml(database_url: str, tmp_path: Path) -> None:
    unreadable = tmp_path / "plant.yaml"
    unreadable.write_text("site: [PLT1\n", encoding="utf-8")
    result = import_as_ines(database_url, unreadable, "--reason", "CR-45: unreadable")
    assert result.exit_code == 2
    assert result.stderr.startswith("error:")
    nowhere = str(tmp_path / "nope.yaml")
    missing = import_as_ines(database_url, nowhere, "--reason", "CR-45: unreadable")
    assert missing.exit_code == 2
    assert "No such file" in missing.stderr


def test_masterdata_import_needs_a_reason(database_url: str) -> None:
    result = labgate(database_url, "masterdata", "import", str(DEMO_PLANT), "--as", "ines")
    assert result.exit_code == 2
    assert "--reason" in result.stderr
    nobody = labgate(database_url, "masterdata", "import", str(DEMO_PLANT), "--reason", "CR-47")
    assert nobody.exit_code == 2
    assert "--as" in nobody.stderr  # an import is always a signed-in person's act


# --- the demo plant --------------------------------------------------------------------------


def test_demo_seed_is_refused_outside_demo_mode(database_url: str) -> None:
    result = labgate(database_url, "demo", "seed")
    assert result.exit_code == 2
    assert "set LABGATE_DEMO=1" in result.stderr
    assert count(database_url, t.accounts) == 0


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A demo plant seeded through the CLI, shared by the read-only tests below:
    the database URL and what the seed printed."""
    with empty_database(request.param, tmp_path_factory.mktemp("demo")) as url:
        assert labgate(url, "db", "upgrade").exit_code == 0
        result = labgate(url, "demo", "seed", demo=True)
        assert result.exit_code == 0, result.output
        yield url, result.stdout


def table_rows(text: str) -> dict[str, list[str]]:
    """The body rows of a rich table, keyed by their first cell."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells and cells[0]:
            rows[cells[0]] = cells
    return rows


def printed_credential(printed: str, username: str, role: str) -> str:
    """The credential on the line that names `username` and `role` (in a table or not)."""
    line = re.compile(rf"^[│\s]*{username}[│\s]+{role}[│\s]+(\S+)[│\s]*$", re.MULTILINE)
    found = line.findall(printed)
    assert len(found) == 1, f"no single line for {username} in:\n{printed}"
    return str(found[0])


def test_demo_seed_prints_credentials_that_work(seeded: tuple[str, str]) -> None:
    url, printed = seeded
    assert "demo credentials (shown once)" in printed
    for username, _, role in PEOPLE + SYSTEMS:
        credential = printed_credential(printed, username, role)
        stored = account(url, username)
        assert stored is not None
        if stored.kind == "system":
            assert stored.api_key_hash == hash_api_key(credential), f"{username}: key garbled"
        else:
            assert password_matches(stored.password_hash, credential), f"{username}: wrong"
            # The seed changed each temporary password as its person would: usable at once.
            assert not stored.must_change_password, f"{username}: must change its password"


def test_demo_seed_runs_once(seeded: tuple[str, str]) -> None:
    url, _ = seeded
    entries = count(url, t.audit_entries)
    again = labgate(url, "demo", "seed", demo=True)
    assert again.exit_code == 0, again.output
    assert "already seeded" in again.stdout
    assert "lgk_" not in again.stdout
    assert count(url, t.audit_entries) == entries


def test_demo_seed_shows_its_stages_and_then_what_it_made(seeded: tuple[str, str]) -> None:
    url, printed = seeded
    stages = re.findall(r"^  seeded (.+) \(\d+\.\d s\)$", printed, re.MULTILINE)
    assert len(stages) == 8 and "master data of site PLT1" in stages, printed
    credentials, summary = printed.split("demo credentials (shown once):", 1)
    assert "batches" in summary and "batches" not in credentials.replace("batches mid", "")
    rows = table_rows(summary)
    assert rows["PLT1"][1] == "Basel plant"
    with open_hub(url) as hub, hub.sessions() as session:
        codes = list(session.scalars(select(t.batches.c.code).where(t.batches.c.site == "PLT1")))
        views = [batch_view(session, "PLT1", code) for code in codes]
        products = list(session.execute(select(t.products.c.code, t.products.c.name)))
    for code, name in products:
        assert rows[code][1] == name
    # Each batch's row says what the database says: product, QA's decision, the MES status.
    for view in views:
        _, product, qa, mes, _, _ = rows[view["code"]]
        assert (product, qa, mes) == (view["product"], view["disposition"], view["mes_status"])
    released, rejected, testing, requested = (b["code"] for b in plant_document()["batches"])
    assert rows[released][2:4] == ["released", "Accepted"]
    assert rows[rejected][3] == "Rejected" and "open" in rows[rejected][5]
    assert rows[requested][4] == "4 requested"
    assert "where to start: http://127.0.0.1:8000/docs" in summary
    assert f"results awaiting review: GET /api/v1/sites/PLT1/batches/{testing}" in summary
    assert f"GET /api/v1/sites/PLT1/batches/{requested}/gates" in summary


def test_demo_batches_are_mid_flight(seeded: tuple[str, str]) -> None:
    url, _ = seeded
    document = plant_document()
    site = document["site"]["code"]
    released, rejected, testing, requested = (b["code"] for b in document["batches"])
    with open_hub(url) as hub, hub.sessions() as session:
        codes = (released, rejected, testing, requested)
        views = {code: batch_view(session, site, code) for code in codes}
        testing_results = [
            result
            for sample in views[testing]["samples"]
            for result in sample_view(session, site, sample["sample"])["results"]
        ]
    assert views[released]["released_by"] == "qa"
    assert views[released]["mes_status"] == "Accepted"
    assert views[rejected]["mes_status"] == "Rejected"
    assert views[rejected]["released_at"] is None
    assert views[testing]["mes_status"] == "Pending"
    assert testing_results and {r["status"] for r in testing_results} == {"preliminary"}
    assert views[requested]["mes_status"] == "Pending"
    assert {s["status"] for s in views[requested]["samples"]} == {"requested"}
    assert all(v["samples"] for v in views.values())


def test_demo_shows_oos_investigations_at_each_stage(seeded: tuple[str, str]) -> None:
    url, _ = seeded
    document = plant_document()
    site, rejected = document["site"]["code"], document["batches"][1]["code"]
    with open_hub(url) as hub, hub.sessions() as session:
        view = batch_view(session, site, rejected)
        retested = sample_view(session, site, view["samples"][0]["sample"])
    states = [d["state"] for d in view["deviations"]]
    assert states[:2] == ["invalidated", "closed"]  # a lab error; a confirmed OOS with its CAPA
    assert set(states[2:]) == {"open_phase1"} and states[2:]  # still being investigated
    assert view["on_hold"] is True  # open deviations hold the batch
    first, retest = retested["results"][0], retested["results"][-1]
    assert first["status"] == "invalidated" and retest["supersedes"] == first["code"]
    assert retest["mes_status"] == "Accepted"


def test_demo_plans_each_point_for_its_own_tests_and_certifies_release_testing(
    seeded: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = seeded
    document = plant_document()
    site, released = document["site"]["code"], document["batches"][0]["code"]
    with open_hub(url) as hub, hub.sessions() as session:
        samples = [
            sample_view(session, site, s["sample"])
            for s in batch_view(session, site, released)["samples"]
        ]
    plans = {s["sampling_point"]: (s["limit_set"], [t["test_code"] for t in s["tests"]])
             for s in samples}  # fmt: skip
    assert plans == {
        "SP-IBU-GRAN": ("IPC", ["WATER"]),
        "SP-IBU-BU": ("IPC", ["BU"]),
        "SP-IBU-TAB": ("IPC", ["APPEAR"]),
        "SP-IBU-REL": ("release", ["ASSAY", "WATER", "DISS", "APPEAR", "IMP-A"]),
    }
    granulate = next(s for s in samples if s["sampling_point"] == "SP-IBU-GRAN")
    assert granulate["tests"][0]["limit"] == "NMT 2.0"  # the drying end point, not release's

    written = {}
    for kind in ("coa", "dossier"):
        out = tmp_path / f"{kind}.json"
        result = labgate(url, kind, released, "--site", site, "--out", str(out), "--format", "json")
        assert result.exit_code == 0, result.output
        written[kind] = json.loads(out.read_text(encoding="utf-8"))
    [certified] = written["coa"]["samples"]  # release testing only: no IPC sample on the CoA
    assert certified["sampling_point"] == "SP-IBU-REL"
    assert [t["test_code"] for t in certified["tests"]] == plans["SP-IBU-REL"][1]
    in_dossier = {s["sampling_point"]: s["limit_set"] for s in written["dossier"]["samples"]}
    assert in_dossier == {point: limit_set for point, (limit_set, _) in plans.items()}


def test_demo_shows_environmental_monitoring_with_an_excursion_and_its_impact(
    seeded: tuple[str, str],
) -> None:
    url, _ = seeded
    site = plant_document()["site"]["code"]
    first_batch = sorted(b["code"] for b in plant_document()["batches"])[0]
    with open_hub(url) as hub, hub.sessions() as session:
        config = em_views.config_view(session, site)
        excursions = em_views.excursions_view(session, site)["items"]
        action = next(x for x in excursions if x["outcome"] == "action_exceeded")
        impact = em_views.impact_view(session, site, action["code"], datetime.now(UTC))
        deviation = deviation_view(session, site, action["deviation"])
        within = session.scalar(
            select(func.count()).select_from(t.em_samples).where(t.em_samples.c.outcome == "within")
        )
    assert {x["grade"] for x in config["locations"]} == {"A", "B", "C"}
    assert len({p["sample_type"] for p in config["points"]}) == 6  # every sample type
    assert config["routes"] and config["schedules"]
    assert sorted(x["outcome"] for x in excursions) == ["action_exceeded", "alert_exceeded"]
    assert within is not None and within > 100  # weeks of rounds, mostly within limits
    assert (deviation["kind"], deviation["state"]) == ("em_excursion", "open_phase2")
    assert deviation["impact"]["excursion"] == action["code"]
    assert [b["batch"] for b in impact["batches"]] == [first_batch]  # only the one in the room
    assert {e["code"] for e in impact["equipment"]} == {"FILLER-01", "RABS-01"}


def test_demo_shows_raw_materials_under_a_skip_lot_plan(seeded: tuple[str, str]) -> None:
    url, _ = seeded
    lots = t.received_lots.c
    with open_hub(url) as hub, hub.engine.connect() as connection:
        rows = connection.execute(
            select(lots.supplier_lot, lots.status, lots.full_panel, lots.draw).order_by(lots.id)
        ).all()
        plan = connection.execute(select(t.skip_lot_plans.c.state)).scalar_one()
        certificates = list(connection.scalars(select(lots.supplier_coa)))
    statuses = [status for _, status, _, _ in rows]
    assert statuses == ["released"] * 6 + ["rejected", "released", "quarantine"]
    assert all(full for _, _, full, _ in rows[:3])  # normal inspection until cleared
    assert all(draw is not None for _, _, _, draw in rows[3:7])  # skipping: each draw recorded
    assert rows[7][2] and rows[7][3] is None  # the rejection returned the plan to normal
    assert plan == "normal"
    assert all(len(values) == 3 for values in certificates)  # each lot came with its CoA


# --- the audit trail -------------------------------------------------------------------------


def test_audit_verify_after_seeding(seeded: tuple[str, str]) -> None:
    url, _ = seeded
    result = labgate(url, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert f"audit trail intact: {count(url, t.audit_entries)} entries verified" in result.stdout


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def as_entry(row: dict[str, Any]) -> AuditEntry:
    """An exported line read back as a sealed entry, as an auditor's own tool would."""
    fields = {k: row[k] for k in AuditDraft.__dataclass_fields__ if k != "at"}
    draft = AuditDraft(**fields, at=datetime.fromisoformat(row["at"]))
    return AuditEntry(row["seq"], draft, row["prev_hash"], row["hash"])


@pytest.mark.requirement("URS-P11-11.10b", "URS-A11-9", "URS-A11-17")
def test_audit_export_writes_json_lines_and_html(seeded: tuple[str, str], tmp_path: Path) -> None:
    url, _ = seeded
    out = tmp_path / "export"
    result = labgate(url, "audit", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = read_jsonl(out / "audit.jsonl")
    assert len(rows) == count(url, t.audit_entries)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        assert {"seq", "hash", "prev_hash", "before", "after"} <= row.keys()
        assert row["before"] is None or isinstance(row["before"], dict)  # structured, not text
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in pairwise(rows))
    assert verify_chain(as_entry(row) for row in rows).ok  # verifiable from the export alone

    html = (out / "audit.html").read_text(encoding="utf-8")
    assert f"{len(rows)} entries; chain intact" in html
    assert all(row["hash"] in html for row in rows)


def test_audit_export_writes_csv(seeded: tuple[str, str], tmp_path: Path) -> None:
    url, _ = seeded
    result = labgate(url, "audit", "export", "--out", str(tmp_path), "--readable", "csv")
    assert result.exit_code == 0, result.output
    with (tmp_path / "audit.csv").open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header, body = next(reader), list(reader)
    assert header == COLUMNS
    assert len(body) == count(url, t.audit_entries)
    hashes = [row["hash"] for row in read_jsonl(tmp_path / "audit.jsonl")]
    assert [row[COLUMNS.index("hash")] for row in body] == hashes


def test_audit_export_prints_the_paths_it_wrote(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "exports[v1]"
    result = labgate(database_url, "audit", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'audit.jsonl'}" in result.stdout
    assert (out / "audit.jsonl").read_text(encoding="utf-8") == ""  # an empty trail, no lines


def test_audit_export_refuses_pdf(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = labgate(database_url, "audit", "export", "--out", str(out), "--readable", "pdf")
    assert result.exit_code == 2
    assert "--readable must be html or csv." in result.stderr
    assert not out.exists()


# --- the demo plant's stability programme ----------------------------------------------------


def test_demo_shows_stability_studies_with_history_and_one_oot_alert(
    seeded: tuple[str, str], tmp_path: Path
) -> None:
    from labgate.adapters.store import stability_views
    from labgate.entrypoints.cli.demo_stability import BATCHES, LONG, OOT

    url, _ = seeded
    site = plant_document()["site"]["code"]
    with open_hub(url) as hub, hub.sessions() as session:
        studies = stability_views.studies_rows(session, site)
        first = sorted(s["code"] for s in studies)[0]
        trend = stability_views.trend_data(session, site, first)
        (alert,) = stability_views.alerts_rows(session, site, None, None)
        schedule = stability_views.study_view(session, site, first, datetime.now(UTC))["schedule"]
    assert {s["batch"] for s in studies} == {b for b, _, _ in BATCHES}
    assert {s["status"] for s in studies} == {"active"}
    long_assay = next(s for s in trend["series"] if s["condition"] == LONG)
    assert {p["batch"] for p in long_assay["points"]} == {b for b, _, _ in BATCHES}
    assert max(p["time"] for p in long_assay["points"]) == 18
    expected = (OOT[0], LONG, str(OOT[2]))
    assert (alert["batch"], alert["series"].split()[-1], alert["time"]) == expected
    assert alert["status"] == "open" and alert["test_code"] == "ASSAY"
    assert "planned" in {p["state"] for p in schedule}  # pulls still to come
    written = [labgate(url, "stability", "report", first, "--site", site, "--out",
                       str(tmp_path / f"r{n}.pdf")) for n in (1, 2)]  # fmt: skip
    assert all(w.exit_code == 0 for w in written), written[0].output
    assert (tmp_path / "r1.pdf").read_bytes() == (tmp_path / "r2.pdf").read_bytes()
    due = labgate(url, "stability", "pull-due", "--site", site)
    assert due.exit_code == 0, due.output
    assert set(json.loads(due.stdout)) == {"pulled", "skipped"}


def test_a_command_starts_without_what_only_some_commands_need() -> None:
    """Alembic (~1 s to import here), asyncssh (~0.4 s) and pint's registry (~0.3 s) are
    loaded by the commands that use them (`db upgrade`, SFTP, the first unit conversion), not
    by every `labgate ...` at start."""
    probe = (
        "import sys, labgate.entrypoints.cli.main, labgate.adapters.units_pint as u;"
        "from labgate.bootstrap import bootstrap; from labgate.config import Settings;"
        "bootstrap(Settings(database_url='sqlite://', token_secret='x' * 32)).close();"
        "print(sorted(m for m in ('alembic', 'asyncssh') if m in sys.modules),"
        " u._registry.cache_info().currsize)"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["[]", "0"]


# What `labgate --help` and `labgate evaluate` must not import: the database (SQLAlchemy, the
# ORM mapping, Alembic, psycopg), units (pint), statistics and charts (numpy ...), documents
# (WeasyPrint, Jinja2, lxml's schemas), brokers and SFTP (aio-pika, aiomqtt, asyncssh), the
# API, signing (joserfc), the settings and anything of labgate beyond the CLI and the domain.
HEAVY = {"sqlalchemy", "alembic", "psycopg", "pint", "numpy", "pandas", "scipy", "statsmodels",
         "matplotlib", "weasyprint", "jinja2", "lxml", "aio_pika", "aiormq", "aiomqtt", "asyncssh",
         "gnupg", "joserfc", "fastapi", "uvicorn", "pydantic_settings"}  # fmt: skip
LABGATE_HEAVY = ("labgate.adapters", "labgate.bootstrap", "labgate.config", "labgate.service")
EVALUATE = ["evaluate", "--rule", "usp", "--limit", "NLT 98.0", "--value", "97.96"]


@pytest.mark.parametrize("args", [["--help"], EVALUATE], ids=["help", "evaluate"])
def test_help_and_evaluate_import_only_what_they_use(args: list[str]) -> None:
    """The installed `labgate` script, run with `-X importtime`, loads none of the heavy
    modules for `--help` or `evaluate` (they took 3.4 s and more when every sub-app was
    imported at start); the time itself is measured by `make bench` (cli.start)."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", str(SCRIPT), *args], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY or m.startswith(LABGATE_HEAVY))
    assert heavy == []
    assert "labgate.entrypoints.cli.main" in imported  # the probe saw the real start
    assert ("Commands" if args == ["--help"] else "conforms") in run.stdout


def test_every_listed_command_loads_with_the_help_it_is_listed_with() -> None:
    """`--help` lists the lazy commands from main's table without importing them; each entry
    names a module and attribute that exist, and its help is the command's own first line."""
    listed = CliRunner().invoke(app, ["--help"])
    assert listed.exit_code == 0, listed.output
    group = typer.main.get_group(app)
    with typer.Context(group) as ctx:
        names = group.list_commands(ctx)
        assert names == list(Commands.lazy)
        for name in names:
            command = group.get_command(ctx, name)
            assert command is not None and name in listed.output
            assert (command.help or "").splitlines()[0] == Commands.lazy[name].help, name
            # The real command, not the summary the list is printed from.
            assert getattr(command, "commands", None) or command.callback is not None, name


def test_a_mistyped_command_is_offered_the_lazy_command_it_resembles() -> None:
    """Typer's "Did you mean" still sees the commands that are not imported yet."""
    typo = CliRunner().invoke(app, ["evalute"])
    assert typo.exit_code == 2
    assert "No such command 'evalute'. Did you mean 'evaluate'?" in typo.output
