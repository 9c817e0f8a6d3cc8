"""The published message schemas, as an operator exports them and as a peer system fetches them.
The API on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from labgate.bootstrap import Hub
from labgate.compliance.envelope_schema import ENVELOPE_SCHEMA_ID
from labgate.config import Settings
from labgate.entrypoints.api.routes import schemas
from labgate.entrypoints.app import create_app
from labgate.entrypoints.cli.schemas import schemas_app
from labgate.service.b2mml_payload import B2MML_SCHEMA
from labgate.service.messages import INBOUND, OUTBOUND
from labgate.service.packs import PACK_SCHEMA
from labgate.service.schema_catalog import json_schemas
from plant import Plant, SeededPlant

ALL = sorted([*INBOUND, *OUTBOUND, PACK_SCHEMA, B2MML_SCHEMA, ENVELOPE_SCHEMA_ID])


def cli() -> typer.Typer:
    """A throwaway command line holding only the schemas commands."""
    app = typer.Typer()
    app.add_typer(schemas_app, name="schemas")
    return app


def test_export_writes_one_file_per_schema_and_prints_the_count(tmp_path: Path) -> None:
    out = tmp_path / "published" / "schemas"
    answer = CliRunner().invoke(cli(), ["schemas", "export", "--out", str(out)])
    assert answer.exit_code == 0, answer.output
    assert f"Wrote {len(ALL)} schemas" in answer.output
    assert sorted(p.name for p in out.iterdir()) == [f"{schema_id}.json" for schema_id in ALL]
    published = json_schemas()
    for schema_id in ALL:
        text = (out / f"{schema_id}.json").read_text(encoding="utf-8")
        assert json.loads(text) == published[schema_id]
        assert text == json.dumps(published[schema_id], sort_keys=True, indent=2,
                                  ensure_ascii=False) + "\n"  # fmt: skip


def test_export_into_a_file_fails_with_a_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    answer = CliRunner().invoke(cli(), ["schemas", "export", "--out", str(blocker)])
    assert answer.exit_code == 1
    assert "cannot write the schemas" in answer.output


@pytest.fixture
def api(settings: Settings, hub: Hub) -> Iterator[TestClient]:
    """The REST API with the schemas router (once, whether or not create_app already has it)."""
    app = create_app(settings, hub)
    if not any(getattr(r, "path", "").startswith(schemas.PREFIX) for r in app.routes):
        app.include_router(schemas.router)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def plant(hub: Hub, api: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(api)


def test_the_list_names_every_schema_its_direction_and_where_to_fetch_it(plant: Plant) -> None:
    answer = plant.call("auditor", "GET", "/api/v1/schemas")
    assert answer.status_code == 200, answer.text
    listing = answer.json()
    assert listing["total"] == len(ALL)
    assert [item["id"] for item in listing["items"]] == ALL
    for item in listing["items"]:
        direction = "outbound" if item["id"] in OUTBOUND else "inbound"
        assert item["direction"] == ("both" if item["id"] == ENVELOPE_SCHEMA_ID else direction)
        fetched = plant.call("lims", "GET", item["url"])
        assert fetched.status_code == 200, fetched.text
        assert fetched.headers["content-type"].startswith("application/schema+json")
        assert fetched.json() == json_schemas()[item["id"]]


def test_an_unknown_schema_is_a_404_problem(plant: Plant) -> None:
    answer = plant.call("auditor", "GET", "/api/v1/schemas/labgate.result.v9")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert (answer.json()["reason"], answer.json()["field"]) == ("schema.unknown", "schema_id")


@pytest.mark.parametrize("path", ["/api/v1/schemas", "/api/v1/schemas/labgate.result.v1"])
def test_schemas_need_credentials(api: TestClient, path: str) -> None:
    answer = api.get(path)
    assert (answer.status_code, answer.json()["reason"]) == (401, "auth.missing")
