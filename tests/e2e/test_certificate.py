"""The Certificate of Analysis through the API and the CLI: from approved results only, with
spec and method versions, limits, results and signatures, the same bytes from the same data."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from labgate.bootstrap import Hub
from labgate.compliance.canonical import content_hash
from labgate.config import Settings
from labgate.entrypoints.cli.main import app as cli
from plant import SITE, Plant, SeededPlant, approved_result, released_batch, request_sample


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def released(plant: Plant) -> str:
    return released_batch(plant, "REQ-COA")


def coa(plant: Plant, format: str, who: str = "production") -> tuple[int, bytes, dict[str, str]]:
    answer = plant.call(who, "GET", "/batches/B1/coa", params={"format": format})
    return answer.status_code, answer.content, dict(answer.headers)


def test_the_coa_states_the_release_panel_with_versions_limits_and_signatures(
    plant: Plant, released: str
) -> None:
    status, body, headers = coa(plant, "json")
    assert status == 200, body
    content = json.loads(body)
    assert (content["product"], content["batch"], content["specifications"]) == (
        "P1", "B1", ["SPEC-A v2"],
    )  # fmt: skip
    [sample] = content["samples"]
    assert sample["sample"] == released
    lines = {line["test_code"]: line for line in sample["tests"]}
    assert list(lines) == ["ASSAY", "WATER", "APPEAR"]
    assay, water = lines["ASSAY"], lines["WATER"]
    assert (assay["limit"], assay["result"], assay["unit"], assay["conforms"]) == (
        "NLT 99.0", "99.6", "%", True,
    )  # fmt: skip
    assert (water["result"], water["unit"]) == ("0.3", "%")  # 3.1 mg/g = 0.31 %, reported 0.3
    assert assay["method_version"] == "1"
    [signature] = assay["signatures"]
    assert (signature["printed_name"], signature["meaning"], signature["status"]) == (
        "Reviewer Person", "approved", "valid",
    )  # fmt: skip
    [release] = content["release_signatures"]
    assert (release["printed_name"], release["meaning"]) == ("Qa Person", "released")
    unhashed = {k: v for k, v in content.items() if k != "content_sha256"}
    assert content["content_sha256"] == content_hash(unhashed)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert headers["repr-digest"] == f"sha-256=:{digest}:"


def test_html_and_pdf_are_reproducible_byte_for_byte_and_carry_the_data_hash(
    plant: Plant, released: str
) -> None:
    content = json.loads(coa(plant, "json")[1])
    status, page, _ = coa(plant, "html")
    assert status == 200
    shown = page.decode()
    assert content["content_sha256"] in shown
    for expected in ("SPEC-A v2", "NLT 99.0", "99.6 %", "Reviewer Person", "Qa Person", released):
        assert expected in shown
    status, document, headers = coa(plant, "pdf")
    assert status == 200 and document.startswith(b"%PDF-")
    assert headers["content-type"] == "application/pdf"
    assert "CoA-" in headers["content-disposition"]
    assert coa(plant, "pdf")[1] == document  # same data, same bytes
    assert coa(plant, "html")[1] == page


def test_a_coa_is_refused_until_every_planned_test_has_an_approved_result(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-PART")
    approved_result(plant, sample, "ASSAY", "99.5", "%")
    answer = plant.call("production", "GET", "/batches/B1/coa", params={"format": "pdf"})
    assert answer.status_code == 409
    problem = answer.json()
    assert problem["reason"] == "coa.incomplete"
    assert f"{sample}/WATER" in problem["detail"] and f"{sample}/APPEAR" in problem["detail"]
    assert plant.call("production", "GET", "/batches/NOPE/coa").status_code == 404


def test_a_record_changed_behind_labgates_back_shows_on_the_coa(
    plant: Plant, released: str, hub: Hub
) -> None:
    before = json.loads(coa(plant, "json")[1])
    with hub.engine.begin() as connection:
        connection.execute(text("UPDATE results SET analyst = 'someone' WHERE test_code = 'ASSAY'"))
    after = json.loads(coa(plant, "json")[1])
    assert after["content_sha256"] != before["content_sha256"]
    assay = after["samples"][0]["tests"][0]
    assert assay["signatures"][0]["status"] == "broken"
    assert "signature broken" in coa(plant, "html")[1].decode()


def test_the_cli_writes_the_same_bytes_as_the_api(
    plant: Plant, released: str, settings: Settings, tmp_path: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    out = tmp_path / "coa.pdf"  # type: ignore[operator]
    result = CliRunner().invoke(cli, ["coa", "B1", "--site", SITE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    api = coa(plant, "pdf")[1]
    assert out.read_bytes() == api
    assert hashlib.sha256(api).hexdigest() in result.output
    refused = CliRunner().invoke(cli, ["coa", "B9", "--site", SITE, "--out", str(out)])
    assert refused.exit_code == 1
