"""The Interface Control Document on both databases: generated from the configuration in
force (the same configuration, the same version), rendered as JSON (whose SHA-256 is the
version's), HTML and PDF with the same bytes every time, approved by QA with an e-signature,
a new draft when the configuration moves, the change said in words; the CLI shows and compares
what the API does."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from labgate.bootstrap import Hub
from labgate.config import Settings
from labgate.entrypoints.cli.icd import icd_app
from pdf_pages import pages
from plant import SITE, Plant, SeededPlant
from senders import register

runner = CliRunner()
pytestmark = pytest.mark.requirement("URS-P11-11.10k", "URS-A11-10")


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def generate(plant: Plant) -> dict[str, Any]:
    answer = plant.call("admin", "POST", "/icd")
    assert answer.status_code == 200, answer.text
    made: dict[str, Any] = answer.json()
    return made


def approve(plant: Plant, version: int, sha: str | None = None) -> Any:
    body: dict[str, Any] = {"signature": plant.signature("qa")}
    if sha is not None:
        body["sha256"] = sha
    return plant.call("qa", "POST", f"/icd/{version}/approval", json=body)


def test_generated_from_the_configuration_rendered_the_same_every_time(
    plant: Plant, tmp_path: Path
) -> None:
    first = generate(plant)
    assert (first["version"], first["status"], first["new"]) == (1, "draft", True)
    again = generate(plant)
    assert (again["version"], again["new"]) == (1, False)  # nothing moved: the same version

    json_doc = plant.call("auditor", "GET", "/icd/1")
    assert json_doc.status_code == 200 and json_doc.headers["content-type"] == "application/json"
    assert hashlib.sha256(json_doc.content).hexdigest() == first["sha256"]
    content = json_doc.json()
    assert content["site"]["code"] == SITE
    assert {p["username"] for p in content["partners"]} >= {"mes", "lims"}
    assert {c["channel"] for c in content["channels"]} == {"rest", "amqp", "mqtt", "folder", "sftp"}
    assert any(m["id"] == "labgate.result.v1" for m in content["message_types"])
    assert content["status_map"] and content["units"] and content["rounding"]
    assert any("envelope.bad_signature" in r["codes"] for r in content["reason_codes"])
    assert content["delivery"]["attempts_before_dead_letter"] == 8

    for form in ("html", "pdf"):
        one = plant.call("auditor", "GET", "/icd/1", params={"format": form})
        two = plant.call("auditor", "GET", "/icd/1", params={"format": form})
        assert one.status_code == 200 and one.content == two.content  # same data, same bytes
    page = plant.call("auditor", "GET", "/icd/1", params={"format": "html"}).text
    assert first["sha256"] in page and "Status map" in page
    pdf = plant.call("auditor", "GET", "/icd/1", params={"format": "pdf"}).content
    text = " ".join(p.flat() for p in pages(pdf, tmp_path, "icd"))
    assert "Interface Control Document" in text and first["sha256"][:16] in text.replace(" ", "")


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_approved_by_qa_a_move_makes_a_new_draft_and_the_change_is_said(
    hub: Hub, plant: Plant
) -> None:
    first = generate(plant)
    stale = approve(plant, 1, "0" * 64)
    assert stale.status_code == 409 and stale.json()["reason"] == "icd.changed_since_shown"
    refused = plant.call("admin", "POST", "/icd/1/approval",
                         json={"signature": plant.signature("admin")})  # fmt: skip
    assert refused.status_code == 403  # the integration admin may not approve
    approved = approve(plant, 1, first["sha256"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["approved_by"] == "qa"
    assert approve(plant, 1).json()["reason"] == "icd.invalid_transition"

    register(hub, "mes", "mes-2027")  # the MES's next signing key: the document must say so
    second = generate(plant)
    assert (second["version"], second["status"], second["new"]) == (2, "draft", True)
    listed = plant.call("auditor", "GET", "/icd").json()
    assert listed["in_force"] == 1
    assert [v["status"] for v in listed["versions"]] == ["draft", "approved"]
    said = plant.call("auditor", "GET", "/icd/changes", params={"from": 1, "to": 2}).json()
    assert said["changes"] and all(
        line.startswith("partners: mes: keys") for line in said["changes"]
    )
    assert "mes-2027" in said["changes"][0]
    newest = plant.call("auditor", "GET", "/icd/changes").json()  # to: the newest, from: before
    assert (newest["from_version"], newest["to_version"], newest["changes"]) == (
        1,
        2,
        said["changes"],
    )

    assert approve(plant, 2, second["sha256"]).status_code == 200
    listed = plant.call("auditor", "GET", "/icd").json()
    assert listed["in_force"] == 2
    assert [v["status"] for v in listed["versions"]] == ["approved", "superseded"]
    assert plant.call("auditor", "GET", "/icd/9").json()["reason"] == "icd.unknown"


def test_the_cli_shows_and_compares_what_the_api_does(
    hub: Hub, plant: Plant, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("LABGATE_DEMO", raising=False)
    made = runner.invoke(icd_app, ["generate"])
    assert made.exit_code == 0, made.output
    assert "version 1 (a new draft)" in made.output
    register(hub, "lims", "lims-2027")
    assert "version 2 (a new draft)" in runner.invoke(icd_app, ["generate"]).output

    shown = runner.invoke(icd_app, ["show", "1", "--format", "json"])
    assert shown.exit_code == 0
    assert shown.stdout.strip().encode() == plant.call("auditor", "GET", "/icd/1").content
    out = tmp_path / "icd.pdf"
    written = runner.invoke(icd_app, ["show", "2", "--format", "pdf", "--out", str(out)])
    assert written.exit_code == 0 and out.read_bytes().startswith(b"%PDF")

    diff = runner.invoke(icd_app, ["diff", "1", "2"])
    assert diff.exit_code == 0
    assert "version 1 → 2: 1 change(s)" in diff.output and "partners: lims: keys" in diff.output
    unknown = runner.invoke(icd_app, ["show", "7"])
    assert unknown.exit_code == 2 and "[icd.unknown]" in unknown.output


@pytest.mark.requirement("URS-A11-10", category="positive")
def test_an_approved_change_request_produces_the_next_version(plant: Plant) -> None:
    from test_change_control import HELD_RULES, _approve, _raise

    assert generate(plant)["version"] == 1
    change = _raise(plant, "status_map", {"rules": HELD_RULES})
    plant.call("admin", "POST", f"/change-requests/{change['code']}/assessment")
    assert _approve(plant, change["code"]).json()["state"] == "effective"
    listed = plant.call("auditor", "GET", "/icd").json()["versions"]
    assert [v["version"] for v in listed] == [2, 1] and listed[0]["generated_by"] == "labgate-icd"
    approved = approve(plant, 2, listed[0]["sha256"])  # the change's approver may approve it
    assert approved.status_code == 200, approved.text
    said = plant.call("auditor", "GET", "/icd/changes", params={"from": 1, "to": 2}).json()
    assert said["changes"] and all(line.startswith("status_map: ") for line in said["changes"])
    in_force = plant.call("auditor", "GET", "/icd/2").json()["status_map"]
    assert {rule["status_map_version"] for rule in in_force} == {1}
