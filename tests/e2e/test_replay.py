"""Replay (issue 18): every decision of the demo plant recomputes to the bytes stored, and a
record altered behind the application's back replays differently, the step named; through the
service, the CLI and the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from hubproc import pg_admin, pg_url
from intruder import behind_the_back
from labgate.adapters.store import tables as t
from labgate.adapters.store.migrate import upgrade
from labgate.adapters.store.replay_view import ReplayView
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.domain.commands import Context
from labgate.domain.errors import NotFound
from labgate.entrypoints.app import create_app
from labgate.entrypoints.cli import demo
from labgate.entrypoints.cli.main import app
from labgate.service.replay.audited import replay_stored_batch, replay_stored_result
from labgate.service.replay.steps import Replay

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
CTX = Context("auditor")


@pytest.fixture(scope="module", params=BACKENDS)
def plant(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """The demo plant, seeded as `labgate demo seed` seeds it: its URL and credentials."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('replay') / 'labgate.db'}"
        yield url, _seeded(url)
        return
    name = f"labgate_replay_{secrets.token_hex(5)}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name), _seeded(pg_url(name))
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seeded(url: str) -> dict[str, str]:
    upgrade(url)
    with hub_on(url) as hub:
        return demo.seed(hub, Console(file=io.StringIO()))


@contextmanager
def hub_on(url: str) -> Iterator[Hub]:
    hub = bootstrap(Settings(database_url=url, demo=True))
    try:
        yield hub
    finally:
        hub.close()


@pytest.fixture
def altered(plant: tuple[str, dict[str, str]], tmp_path: Path) -> Iterator[str]:
    """A copy of the plant, for a test to change behind the application's back."""
    url, _ = plant
    if url.startswith("sqlite"):
        source = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal"):
            if Path(source + suffix).exists():
                shutil.copy(source + suffix, f"{tmp_path / 'labgate.db'}{suffix}")
        yield f"sqlite:///{tmp_path / 'labgate.db'}"
        return
    name = f"labgate_replay_{secrets.token_hex(5)}"
    pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{url.rsplit("/", 1)[1]}"')
    try:
        yield pg_url(name)
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def replay(url: str, kind: str, code: str) -> Replay:
    with hub_on(url) as hub:
        site = _site(hub)
        view = ReplayView(hub.sessions, hub.bus.deps.clock)
        replayer = replay_stored_result if kind == "result" else replay_stored_batch
        return replayer(view, hub.uow_factory(), hub.bus.deps, CTX, site, code)


def _site(hub: Hub) -> str:
    with hub.sessions() as session:
        site: str = session.scalars(select(t.sites.c.code)).one()
        return site


def numeric_result(url: str) -> tuple[str, str]:
    """A converted, approved result of a batch, and its batch."""
    r, s = t.results.c, t.samples.c
    query = (
        select(r.code, s.batch)
        .join(t.samples, s.id == r.sample_id)
        .where(r.canonical_value.is_not(None), s.batch.is_not(None), r.status == "approved")
        .order_by(r.id)
        .limit(1)
    )
    with hub_on(url) as hub, hub.sessions() as session:
        code, batch = session.execute(query).one()
        return code, batch


def differing(found: Replay) -> list[str]:
    return [f"{s.subject}: {s.name}" for s in found.differing]


# --- the whole demo plant ---------------------------------------------------------------------


@pytest.mark.requirement("URS-P11-11.10a")
def test_every_decision_of_the_demo_plant_replays_identically(
    plant: tuple[str, dict[str, str]],
) -> None:
    url, _ = plant
    with hub_on(url) as hub, hub.sessions() as session:
        results = list(session.scalars(select(t.results.c.code).order_by(t.results.c.id)))
        batches = list(session.scalars(select(t.batches.c.code).order_by(t.batches.c.id)))
    assert len(results) > 50 and len(batches) > 5  # the whole plant, not a corner of it
    replayed = [replay(url, "result", code) for code in results]
    replayed += [replay(url, "batch", code) for code in batches]
    assert {(r.code, r.outcome.value) for r in replayed} == {
        (r.code, "identical") for r in replayed
    }, [differing(r) for r in replayed if r.differing]
    with hub_on(url) as hub, hub.sessions() as session:
        audited = session.scalar(
            select(func.count()).where(t.audit_entries.c.action.like("%.replayed"))
        )
    assert audited == len(replayed)  # each replay leaves its one entry


def test_a_replay_writes_nothing_but_its_audit_entry(plant: tuple[str, dict[str, str]]) -> None:
    url, _ = plant
    _, batch = numeric_result(url)
    before = _fingerprint(url)
    assert replay(url, "batch", batch).outcome.value == "identical"
    assert _fingerprint(url) == before
    with hub_on(url) as hub, hub.sessions() as session:
        last = session.execute(
            select(t.audit_entries).order_by(t.audit_entries.c.seq.desc()).limit(1)
        ).one()
    assert (last.action, last.record_id, last.actor) == ("batch.replayed", batch, "auditor")
    assert last.after == {"outcome": "identical", "differing_steps": []}


def _fingerprint(url: str) -> list[object]:
    with hub_on(url) as hub, hub.sessions() as session:
        tables = (t.results, t.samples, t.planned_tests, t.batches, t.limit_lines, t.outbox)
        return [
            list(session.execute(select(table).order_by(*table.primary_key))) for table in tables
        ]


# --- records altered behind the application's back ---------------------------------------------


@pytest.mark.requirement("URS-P11-11.10a", category="negative")
def test_an_altered_converted_value_replays_differently_and_is_named(altered: str) -> None:
    code, batch = numeric_result(altered)
    with behind_the_back(altered) as connection:
        connection.execute(
            text("UPDATE results SET canonical_value = '12345.6' WHERE code = :code"),
            {"code": code},
        )
    found = replay(altered, "result", code)
    assert differing(found) == [f"result {code}: conversion"]
    (changed,) = found.differing[0].differences
    assert (changed.field, changed.stored) == ("canonical_value", "12345.6")
    assert f"result {code}: conversion" in differing(replay(altered, "batch", batch))


@pytest.mark.requirement("URS-P11-11.10a", category="negative")
def test_an_altered_evaluation_outcome_replays_differently_and_is_named(altered: str) -> None:
    code, batch = numeric_result(altered)
    with behind_the_back(altered) as connection:
        connection.execute(
            text("UPDATE results SET conforms = NOT conforms WHERE code = :code"), {"code": code}
        )
    found = replay(altered, "result", code)
    assert differing(found) == [f"result {code}: evaluation"]
    assert [d.field for d in found.differing[0].differences] == ["conforms"]
    batch_replay = replay(altered, "batch", batch)
    assert f"result {code}: evaluation" in differing(batch_replay)


@pytest.mark.requirement("URS-P11-11.10a", category="negative")
def test_an_altered_spec_limit_replays_differently_and_is_named(altered: str) -> None:
    code, _ = numeric_result(altered)
    lines, r, s, p = t.limit_lines.c, t.results.c, t.samples.c, t.planned_tests.c
    v = t.spec_versions.c
    with hub_on(altered) as hub, hub.sessions() as session:
        line_id = session.execute(
            select(lines.id)
            .join(t.spec_versions, v.id == lines.spec_version_id)
            .join(t.samples, (s.specification == v.specification) & (s.spec_version == v.version))
            .join(t.results, r.sample_id == s.id)
            .where(r.code == code, lines.limit_set == s.limit_set)
            .where(lines.test_code == r.test_code)
        ).scalar_one()
        bound = session.execute(
            select(p.limit).join(t.results, r.sample_id == p.sample_id)
            .where(r.code == code, p.test_code == r.test_code)
        ).scalar_one()  # fmt: skip
    with behind_the_back(altered) as connection:
        connection.execute(
            text('UPDATE limit_lines SET "limit" = :limit WHERE id = :id'),
            {"limit": "NMT 0.000001", "id": line_id},
        )
    found = replay(altered, "result", code)
    assert f"result {code}: binding" in differing(found)
    binding = found.differing[0].differences
    assert [(d.field, d.stored, d.recomputed) for d in binding] == [
        ("limit", bound, "NMT 0.000001")
    ]
    assert f"result {code}: evaluation" in differing(found)


def test_an_unknown_id_is_refused_with_its_name(plant: tuple[str, dict[str, str]]) -> None:
    url, _ = plant
    with pytest.raises(NotFound, match="S-999999-R1") as refused:
        replay(url, "result", "S-999999-R1")
    assert refused.value.reason == "result.unknown"
    with pytest.raises(NotFound, match="B-NONE") as refused:
        replay(url, "batch", "B-NONE")
    assert refused.value.reason == "batch.unknown"


# --- the CLI ------------------------------------------------------------------------------------


def labgate(url: str, *args: str) -> tuple[int, str, str]:
    env = {"LABGATE_DATABASE_URL": url, "LABGATE_DEMO": "1"}
    done = CliRunner().invoke(app, ["replay", *args], env=env)
    return done.exit_code, done.stdout, done.stderr


def test_cli_exits_0_when_a_batch_and_a_result_replay_identically(
    plant: tuple[str, dict[str, str]],
) -> None:
    url, _ = plant
    code, batch = numeric_result(url)
    status, out, _ = labgate(url, "batch", batch)
    assert status == 0, out
    assert "identical: all" in out and "decision" in out and "disposition_checks" in out
    status, out, _ = labgate(url, "result", code)
    assert status == 0, out
    for step in ("binding", "conversion", "rounding", "evaluation", "mes_status"):
        assert step in out


def test_cli_exits_1_naming_the_step_that_differs(altered: str) -> None:
    code, batch = numeric_result(altered)
    with behind_the_back(altered) as connection:
        connection.execute(
            text("UPDATE results SET canonical_value = '12345.6' WHERE code = :code"),
            {"code": code},
        )
    status, out, _ = labgate(altered, "result", code)
    assert status == 1, out
    assert f"differs: 1 of 5 steps (result {code}: conversion)" in out
    assert "12345.6" in out
    status, out, _ = labgate(altered, "batch", batch)
    assert status == 1 and f"result {code}: conversion" in out


def test_cli_exits_2_naming_an_unknown_id(plant: tuple[str, dict[str, str]]) -> None:
    url, _ = plant
    status, _, err = labgate(url, "batch", "B-NONE")
    assert status == 2 and "B-NONE" in err and "batch.unknown" in err
    status, _, err = labgate(url, "result", "S-999999-R1")
    assert status == 2 and "S-999999-R1" in err and "result.unknown" in err


# --- the API ------------------------------------------------------------------------------------


@contextmanager
def api(url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=url, demo=True, token_secret=secrets.token_urlsafe(32))
    with hub_on(url) as hub, TestClient(create_app(settings, hub)) as client:
        yield client


def signed_in(client: TestClient, username: str, password: str) -> dict[str, str]:
    answer = client.post("/api/v1/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_api_replays_for_auditors_and_qa_and_refuses_others(
    plant: tuple[str, dict[str, str]],
) -> None:
    url, credentials = plant
    code, batch = numeric_result(url)
    with api(url) as client:
        site = client.get("/api/v1/sites", headers=signed_in(client, "qa", credentials["qa"]))
        where = f"/api/v1/sites/{site.json()['items'][0]['code']}"
        auditor = signed_in(client, "auditor", credentials["auditor"])
        answer = client.get(f"{where}/results/{code}/replay", headers=auditor)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["outcome"], body["differing_steps"]) == ("identical", [])
        assert [s["step"] for s in body["steps"]] == [
            "binding", "conversion", "rounding", "evaluation", "mes_status"
        ]  # fmt: skip
        qa = signed_in(client, "qa", credentials["qa"])
        answer = client.get(f"{where}/batches/{batch}/replay", headers=qa)
        assert (answer.status_code, answer.json()["outcome"]) == (200, "identical")
        unknown = client.get(f"{where}/batches/B-NONE/replay", headers=qa)
        assert (unknown.status_code, unknown.json()["reason"]) == (404, "batch.unknown")
        unknown = client.get(f"{where}/results/S-999999-R1/replay", headers=qa)
        assert (unknown.status_code, unknown.json()["reason"]) == (404, "result.unknown")
        assert client.get(f"{where}/results/{code}/replay").status_code == 401
        analyst = signed_in(client, "analyst", credentials["analyst"])
        refused = client.get(f"{where}/batches/{batch}/replay", headers=analyst)
        assert refused.status_code == 403


def test_api_names_the_step_that_differs(plant: tuple[str, dict[str, str]], altered: str) -> None:
    _, credentials = plant
    code, _ = numeric_result(altered)
    with behind_the_back(altered) as connection:
        connection.execute(
            text("UPDATE results SET conforms = NOT conforms WHERE code = :code"), {"code": code}
        )
    with api(altered) as client:
        auditor = signed_in(client, "auditor", credentials["auditor"])
        with hub_on(altered) as hub:
            site = _site(hub)
        answer = client.get(f"/api/v1/sites/{site}/results/{code}/replay", headers=auditor)
    body = answer.json()
    assert (body["outcome"], body["differing_steps"]) == ("differs", [f"result {code}: evaluation"])
    (step,) = [s for s in body["steps"] if s["outcome"] == "differs"]
    assert [d["field"] for d in step["differences"]] == ["conforms"]
