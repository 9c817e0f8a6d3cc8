"""The batch dossier through the API and the CLI: procedure, samples, results with provenance,
deviations, audit excerpts and disposition; the same data give the same bytes, and it says
whether any data changed after its original entry."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from labgate.bootstrap import Hub
from labgate.compliance.canonical import content_hash
from labgate.config import Settings
from labgate.entrypoints.cli.main import app as cli
from plant import SITE, Plant, SeededPlant, approved_result, released_batch, request_sample

NO_CHANGE = "No data was changed after its original entry."


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def released(plant: Plant) -> str:
    return released_batch(plant, "REQ-DOS")


def dossier(plant: Plant, format: str) -> tuple[int, bytes, dict[str, str]]:
    answer = plant.call("production", "GET", "/batches/B1/dossier", params={"format": format})
    return answer.status_code, answer.content, dict(answer.headers)


def content(plant: Plant) -> dict[str, Any]:
    status, body, _ = dossier(plant, "json")
    assert status == 200, body
    shown: dict[str, Any] = json.loads(body)
    return shown


def test_the_dossier_compiles_the_batch_record_with_its_lab_evidence(
    plant: Plant, released: str
) -> None:
    status, body, headers = dossier(plant, "json")
    assert status == 200, body
    shown = json.loads(body)
    assert (shown["document"], shown["batch"], shown["product"]) == ("Batch dossier", "B1", "P1")
    procedure = shown["procedure"]
    assert procedure["code"] == "PROC1" and len(procedure["elements"]) == 4
    assert [p["code"] for p in procedure["sampling_points"]] == ["SP-REL"]
    [sample] = shown["samples"]
    assert sample["code"] == released and sample["spec_version"] == 2
    water = next(r for r in sample["results"] if r["test_code"] == "WATER")
    assert water["provenance"]["raw"] == "3.1 mg/g"
    assert water["provenance"]["converted"].startswith("0.31")
    assert water["provenance"]["rounded"].startswith("0.3 (")
    assert water["provenance"]["evaluated"].startswith("conforms to NMT 0.5")
    assert (water["analyst"], water["reviewer"], water["method_version"]) == (
        "analyst", "reviewer", "1",
    )  # fmt: skip
    assert water["signatures"][0]["status"] == "valid"
    disposition = shown["disposition"]
    assert (disposition["state"], disposition["by"]) == ("released", "qa")
    assert disposition["signatures"][0]["meaning"] == "released"
    assert shown["review"]["ready_by_exception"] is True
    assert (shown["data_statement"], shown["changed_after_entry"]) == (NO_CHANGE, [])
    audit = shown["audit"]
    assert audit["seals_verify"] and audit["chain_verifies"]
    actions = {e["action"] for e in audit["entries"]}
    assert {"sample.requested", "result.approved", "batch.released"} <= actions
    unhashed = {k: v for k, v in shown.items() if k != "content_sha256"}
    assert shown["content_sha256"] == content_hash(unhashed)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert headers["repr-digest"] == f"sha-256=:{digest}:"


def test_html_and_pdf_are_reproducible_byte_for_byte(plant: Plant, released: str) -> None:
    shown = content(plant)
    status, page, _ = dossier(plant, "html")
    assert status == 200
    text_ = page.decode()
    for expected in (
        shown["content_sha256"],
        NO_CHANGE,
        "PROC1/UP1/OP1/PH1",
        released,
        "Qa Person",
    ):
        assert expected in text_
    status, document, headers = dossier(plant, "pdf")
    assert status == 200 and document.startswith(b"%PDF-")
    assert "Dossier-" in headers["content-disposition"]
    assert dossier(plant, "pdf")[1] == document
    assert dossier(plant, "html")[1] == page


def test_a_row_edited_behind_labgates_back_flips_the_statement(
    plant: Plant, released: str, hub: Hub
) -> None:
    before = content(plant)
    with hub.engine.begin() as connection:
        connection.execute(text("UPDATE results SET analyst = 'someone' WHERE test_code = 'ASSAY'"))
    after = content(plant)
    assert after["content_sha256"] != before["content_sha256"]
    assert after["data_statement"] != NO_CHANGE
    [changed] = after["changed_after_entry"]
    assert (changed["kind"], changed["result"]) == ("signature_broken", f"{released}-R1")
    assert after["review"]["ready_by_exception"] is False
    assert "changed after it was signed" in dossier(plant, "html")[1].decode()


@pytest.mark.requirement("URS-TX-005", "URS-A11-8.2")
def test_an_invalidated_and_retested_result_is_listed_as_changed(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-RETEST")
    first = approved_result(plant, sample, "ASSAY", "99.5", "%")
    assert content(plant)["data_statement"] == NO_CHANGE
    body = {"reason": "Vial mix-up", "signature": plant.signature("reviewer", "invalidated")}
    answer = plant.call("reviewer", "POST", f"/results/{first}/invalidation", json=body)
    assert answer.status_code == 200, answer.text
    shown = content(plant)
    assert shown["data_statement"] != NO_CHANGE
    [changed] = shown["changed_after_entry"]
    assert (changed["kind"], changed["result"]) == ("result_invalidated", first)
    assert "Vial mix-up" in changed["why"]


def test_the_cli_writes_the_same_bytes_as_the_api(
    plant: Plant, released: str, settings: Settings, tmp_path: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    for format in ("pdf", "json"):
        out = tmp_path / f"dossier.{format}"  # type: ignore[operator]
        args = ["dossier", "B1", "--site", SITE, "--out", str(out), "--format", format]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        api = dossier(plant, format)[1]
        assert out.read_bytes() == api
        assert hashlib.sha256(api).hexdigest() in result.output
    refused = CliRunner().invoke(cli, ["dossier", "B9", "--site", SITE, "--out", str(out)])
    assert refused.exit_code == 1
    assert plant.call("production", "GET", "/batches/B9/dossier").status_code == 404
