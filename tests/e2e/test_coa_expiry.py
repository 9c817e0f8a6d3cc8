"""The CoA's expiry date through the real entry points: a product's shelf life loaded as
master data (API and CLI, audited), the expiry = the date of manufacture at the site plus the
shelf life in calendar months (end of a shorter month: its last day), stated on the printed
page with its rule, and said plainly to be not known when either input is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from labgate.bootstrap import Hub
from labgate.compliance.canonical import content_hash
from labgate.config import Settings
from labgate.entrypoints.cli.main import app as cli
from pdf_pages import pages
from plant import (
    PLANT,
    SITE,
    Plant,
    SeededPlant,
    approved_result,
    released_batch,
    request_sample,
)

MARGIN_MM = 15  # the CoA's left and right page margins
RULE = "where that month has no such day, its last day"


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def product(months: int | None) -> dict[str, Any]:
    """Product P1 as the test plant writes it, with this shelf life (None: the key left out)."""
    [written] = PLANT["products"]
    return {**written, **({} if months is None else {"shelf_life_months": months})}


def batch(code: str, started_at: str | None) -> dict[str, Any]:
    """A batch of P1 on the test procedure, started then (None: no start date)."""
    return {"code": code, "product": "P1", "procedure": "PROC1", "started_at": started_at}


def load(plant: Plant, reason: str, **sections: Any) -> dict[str, Any]:
    """A master-data document for the test site, loaded over HTTP by the administrator."""
    site = {**PLANT["site"], "time_zone": "Europe/Zurich"}
    body = {"document": {"site": site, **sections}, "reason": reason}
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text
    counts: dict[str, Any] = answer.json()
    return counts


def coa_json(plant: Plant, code: str = "B1") -> dict[str, Any]:
    """The CoA's JSON, as its OpenAPI documents it, its hash covering the dates."""
    answer = plant.call("production", "GET", f"/batches/{code}/coa", params={"format": "json"})
    assert answer.status_code == 200, answer.text
    content: dict[str, Any] = answer.json()
    assert documented_errors(plant, content) == []
    unhashed = {k: v for k, v in content.items() if k != "content_sha256"}
    assert content["content_sha256"] == content_hash(unhashed)  # the dates are under the hash
    return content


def documented_errors(plant: Plant, content: dict[str, Any]) -> list[str]:
    """What in the CoA's JSON its operation's documented answer (the whole OpenAPI as the root
    of its $refs) refuses: an undeclared key, an expiry the model says cannot be there."""
    spec = plant.client.app.openapi()  # type: ignore[attr-defined]
    operation = spec["paths"]["/api/v1/sites/{site}/batches/{batch}/coa"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": spec["components"]})
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(content)]


def coa_text(plant: Plant, tmp_path: Path, code: str = "B1") -> str:
    """The CoA's PDF as read off its rendered pages, each on A4 with nothing past the margins."""
    answer = plant.call("production", "GET", f"/batches/{code}/coa", params={"format": "pdf"})
    assert answer.status_code == 200, answer.text
    shown = pages(answer.content, tmp_path, f"coa-{code}")
    for page in shown:
        assert (round(page.width), round(page.height)) == (595, 842), "not A4"
        assert page.outside(MARGIN_MM) == [], f"CoA page {page.number} runs off A4"
    return " ".join(page.flat() for page in shown)


def dates(content: dict[str, Any]) -> tuple[Any, Any, Any]:
    return content["manufactured_on"], content["shelf_life_months"], content["expires_on"]


def test_the_expiry_is_manufacture_at_the_site_plus_the_shelf_life(
    plant: Plant, tmp_path: Path
) -> None:
    # Started 22:30 UTC on 30 August: 00:30 on 31 August in Zurich, the plant's date of
    # manufacture. Two months on is 31 October (from the UTC date it would be 30 October).
    load(plant, "CR-20: shelf life and start", products=[product(2)],
         batches=[batch("B1", "2026-08-30T22:30:00+00:00")])  # fmt: skip
    released_batch(plant, "REQ-EXP")
    assert dates(coa_json(plant)) == ("2026-08-31", 2, "2026-10-31")
    text = coa_text(plant, tmp_path)
    for expected in (
        "Date of manufacture 2026-08-31 (the batch's start, as a date at the site)",
        "Expiry date 2026-10-31 (date of manufacture plus the shelf life of 2 calendar months; "
        f"{RULE})",
    ):
        assert expected in text, text


@pytest.mark.parametrize(
    ("months", "expires_on"),
    [(6, "2027-02-28"), (18, "2028-02-29"), (12, "2027-08-31"), (13, "2027-09-30")],
)
def test_a_day_the_month_lacks_gives_its_last_day(
    plant: Plant, tmp_path: Path, months: int, expires_on: str
) -> None:
    load(plant, "CR-21: end of month", products=[product(months)],
         batches=[batch("B1", "2026-08-31T08:00:00+00:00")])  # fmt: skip
    released_batch(plant, "REQ-EOM")
    assert dates(coa_json(plant)) == ("2026-08-31", months, expires_on)
    assert f"Expiry date {expires_on} (date of manufacture plus the shelf life of {months}" in (
        coa_text(plant, tmp_path)
    )


def test_the_documented_answer_holds_the_expiry_and_refuses_an_undeclared_key(
    plant: Plant,
) -> None:
    load(plant, "CR-27: 36 months", products=[product(36)])
    released_batch(plant, "REQ-DOC")
    content = coa_json(plant)  # validated in there
    assert documented_errors(plant, {**content, "best_before": content["expires_on"]}) != []
    assert documented_errors(plant, {**content, "shelf_life_months": 0}) != []


def test_a_change_of_shelf_life_is_audited_and_the_coa_follows_it(plant: Plant) -> None:
    load(plant, "CR-22: 36 months", products=[product(36)])
    released_batch(plant, "REQ-CHG")
    before = coa_json(plant)
    assert dates(before) == ("2026-11-01", 36, "2029-11-01")
    counts = load(plant, "CR-23: stability supports 24 months only", products=[product(24)])
    assert counts["sections"]["products"] == {"created": 0, "updated": 1, "unchanged": 0}
    after = coa_json(plant)
    assert dates(after) == ("2026-11-01", 24, "2028-11-01")
    assert after["content_sha256"] != before["content_sha256"]
    trail = plant.call("auditor", "GET", "/api/v1/audit",
                       params={"record_type": "product", "record_id": "P1"})  # fmt: skip
    assert trail.status_code == 200, trail.text
    updates = [e for e in trail.json()["items"] if e["action"] == "masterdata.updated"]
    changed = [(e["before"]["shelf_life_months"], e["after"]["shelf_life_months"], e["reason"])
               for e in updates]  # fmt: skip
    assert changed == [
        (None, 36, "CR-22: 36 months"),
        (36, 24, "CR-23: stability supports 24 months only"),
    ]
    exported = plant.call("admin", "GET", f"/api/v1/sites/{SITE}/masterdata").json()
    assert exported["products"] == [{**product(24)}]


def test_without_a_shelf_life_the_expiry_is_not_known(plant: Plant, tmp_path: Path) -> None:
    released_batch(plant, "REQ-NOSL")  # the test plant's P1 names no shelf life
    assert dates(coa_json(plant)) == ("2026-11-01", None, None)
    text = coa_text(plant, tmp_path)
    assert "Expiry date not known: labgate holds no shelf life for product P1 in master data" in (
        text
    )


@pytest.mark.parametrize(
    ("months", "why"),
    [
        (36, "no date of manufacture"),
        (None, "no shelf life for product P1 in master data and no date of manufacture"),
    ],
)
def test_without_a_date_of_manufacture_neither_date_is_invented(
    plant: Plant, tmp_path: Path, months: int | None, why: str
) -> None:
    load(plant, "CR-24: a batch the MES gave no start", products=[product(months)],
         batches=[batch("B3", None)])  # fmt: skip
    sample = request_sample(plant, "REQ-NOSTART", batch="B3")
    for test, value, unit in (("ASSAY", "99.62", "%"), ("WATER", "3.1", "mg/g"),
                              ("APPEAR", "White tablet", None)):  # fmt: skip
        approved_result(plant, sample, test, value, unit)
    assert dates(coa_json(plant, "B3")) == (None, months, None)
    text = coa_text(plant, tmp_path, "B3")
    assert "Date of manufacture not known: labgate holds no start date for batch B3" in text
    assert f"Expiry date not known: labgate holds {why}" in text, text


def test_the_cli_loads_a_shelf_life_and_writes_the_coa_with_its_expiry(
    plant: Plant, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    released_batch(plant, "REQ-CLI")
    document = tmp_path / "products.yaml"
    document.write_text(
        yaml.safe_dump({"site": PLANT["site"], "products": [product(13)]}), encoding="utf-8"
    )
    loaded = CliRunner().invoke(
        cli,
        ["masterdata", "import", str(document), "--reason", "CR-25: 13 months", "--as", "admin"],
        input=plant.passwords["admin"] + "\n",
    )
    assert loaded.exit_code == 0, loaded.output
    out = tmp_path / "coa.json"
    written = CliRunner().invoke(
        cli, ["coa", "B1", "--site", SITE, "--format", "json", "--out", str(out)]
    )
    assert written.exit_code == 0, written.output
    content = json.loads(out.read_bytes())
    # 1 November 2026 (the site shows UTC) plus 13 months.
    assert dates(content) == ("2026-11-01", 13, "2027-12-01")
    assert content == coa_json(plant)  # the same certificate the API serves


@pytest.mark.parametrize("months", [0, 1201, "36"])
def test_the_cli_refuses_a_shelf_life_naming_the_field(
    plant: Plant, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    months: object,
) -> None:  # fmt: skip
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    document = tmp_path / "products.yaml"
    written = {"site": PLANT["site"], "products": [{**product(None), "shelf_life_months": months}]}
    document.write_text(yaml.safe_dump(written), encoding="utf-8")
    refused = CliRunner().invoke(
        cli,
        ["masterdata", "import", str(document), "--reason", "CR-26: a typo", "--as", "admin"],
        input=plant.passwords["admin"] + "\n",
    )
    assert refused.exit_code == 1, refused.output
    assert "products[0].shelf_life_months" in refused.output
    assert "[masterdata.bad_type]" in refused.output
    exported = plant.call("admin", "GET", f"/api/v1/sites/{SITE}/masterdata").json()
    assert exported["products"][0]["shelf_life_months"] is None  # nothing was loaded
