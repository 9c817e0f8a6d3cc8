"""`labgate change list|show|assess` against the store the API wrote: what a request proposes,
its computed assessment and its history; an unknown code exits 2 with its reason code."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from labgate.entrypoints.cli.main import app
from plant import SITE, Plant, SeededPlant, request_sample

CR = "/change-requests"


@pytest.fixture
def plant(seeded_plant: SeededPlant, client: TestClient) -> Plant:
    return seeded_plant.on(client)


def labgate(url: str, *args: str) -> Result:
    env = {"LABGATE_DATABASE_URL": url, "LABGATE_TOKEN_SECRET": secrets.token_urlsafe(32)}
    return CliRunner().invoke(app, ["change", *args], env=env)


def _raise_retirement(plant: Plant) -> str:
    body = {"kind": "spec_retirement", "title": "Retire SPEC-A v2", "reason": "Replaced by v3",
            "proposal": {"specification": "SPEC-A", "version": 2}}  # fmt: skip
    answer = plant.call("admin", "POST", CR, json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["code"])


@pytest.mark.requirement("URS-A11-10")
def test_list_show_and_assess_a_request(plant: Plant, database_url: str) -> None:
    sample = request_sample(plant, "CLI-1")
    code = _raise_retirement(plant)
    listed = labgate(database_url, "list", "--state", "draft")
    assert listed.exit_code == 0, listed.output
    assert code in listed.stdout and "spec_retirement" in listed.stdout
    assert code not in labgate(database_url, "list", "--state", "approved").stdout

    shown = labgate(database_url, "show", code, "--site", SITE)
    assert shown.exit_code == 0, shown.output
    assert "specification: SPEC-A" in shown.stdout and "none yet" in shown.stdout
    assert "change_request.raised" in shown.stdout

    assessed = labgate(database_url, "assess", code)
    assert assessed.exit_code == 0, assessed.output
    assert f"{SITE}/{sample}" in assessed.stdout and "URS-A11-10" in assessed.stdout
    answer = plant.call("auditor", "GET", f"{CR}/{code}").json()
    assert answer["state"] == "assessed" and answer["assessment_hash"] in assessed.stdout
    shown = labgate(database_url, "show", code)
    assert "change_request.assessed" in shown.stdout and f"{SITE}/{sample}" in shown.stdout


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_an_unknown_code_or_state_exits_2_with_the_reason(plant: Plant, database_url: str) -> None:
    for args in (("show", "CR-999999"), ("assess", "CR-999999")):
        refused = labgate(database_url, *args)
        assert refused.exit_code == 2, refused.output
        assert "change_request.unknown" in refused.stderr
    refused = labgate(database_url, "list", "--state", "pending")
    assert refused.exit_code == 2 and "change.unknown_state" in refused.stderr


def _as(url: str, password: str, *args: str) -> Result:
    env = {"LABGATE_DATABASE_URL": url, "LABGATE_TOKEN_SECRET": secrets.token_urlsafe(32)}
    return CliRunner().invoke(app, ["change", *args], env=env, input=password + "\n")


@pytest.mark.requirement("URS-A11-10", "URS-P11-11.10g")
def test_a_person_raises_and_qa_approves_from_the_cli_as_their_own_accounts(
    plant: Plant, database_url: str, tmp_path: Path
) -> None:
    proposal = tmp_path / "retire.yaml"
    proposal.write_text("specification: SPEC-A\nversion: 2\n", encoding="utf-8")
    raised = _as(database_url, plant.passwords["admin"], "raise", "--kind", "spec_retirement",
                 "--proposal", str(proposal), "--title", "Retire SPEC-A v2",
                 "--reason", "Replaced by v3 (QD-12)", "--as", "admin")  # fmt: skip
    assert raised.exit_code == 0, raised.output
    code = raised.stdout.split(f"raised {SITE}/")[1].split()[0]
    found = plant.call("auditor", "GET", f"{CR}/{code}").json()
    assert (found["state"], found["author"], found["kind"]) == ("draft", "admin", "spec_retirement")
    assert labgate(database_url, "assess", code).exit_code == 0
    # The author holds no approval right; QA signs with its own password.
    refused = _as(database_url, plant.passwords["admin"], "approve", code, "--as", "admin")
    assert refused.exit_code == 1 and "access.missing_permission" in refused.output
    approved = _as(database_url, plant.passwords["qa"], "approve", code, "--as", "qa")
    assert approved.exit_code == 0, approved.output
    assert f"{SITE}/{code} approved by qa: effective" in approved.stdout
    assert "ICD " in approved.stdout  # in force now: the ICD's next version names it
    done = plant.call("auditor", "GET", f"{CR}/{code}").json()
    assert (done["state"], done["approver"]) == ("effective", "qa")


@pytest.mark.requirement("URS-A11-10", "URS-P11-11.10g", category="negative")
def test_the_cli_raises_nothing_on_a_wrong_password_or_an_unreadable_proposal(
    plant: Plant, database_url: str, tmp_path: Path
) -> None:
    proposal = tmp_path / "retire.json"
    proposal.write_text('{"specification": "SPEC-A", "version": 2}', encoding="utf-8")
    args = ("raise", "--kind", "spec_retirement", "--proposal", str(proposal), "--title", "T",
            "--reason", "Replaced by v3 (QD-12)", "--as", "admin")  # fmt: skip
    wrong = _as(database_url, "not-the-password", *args)
    assert wrong.exit_code == 1 and "auth.bad_credentials" in wrong.output
    proposal.write_text("[1, 2]", encoding="utf-8")
    unreadable = _as(database_url, plant.passwords["admin"], *args)
    assert unreadable.exit_code == 2 and "must hold an object" in unreadable.output
    proposal.write_text('{"specification": "SPEC-A", "version": 2}', encoding="utf-8")
    analyst = _as(database_url, plant.passwords["analyst"], *args[:-1], "analyst")
    assert analyst.exit_code == 1 and "access.missing_permission" in analyst.output
    assert plant.call("auditor", "GET", CR).json()["items"] == []


@pytest.mark.requirement("URS-A11-10", "URS-TX-001")
def test_a_masterdata_remap_is_raised_assessed_and_approved_from_the_cli(
    plant: Plant, database_url: str, tmp_path: Path
) -> None:
    sample = request_sample(plant, "CLI-REMAP")  # bound by C-ASSAY → ASSAY: it keeps it
    document = {"site": {"code": SITE, "name": "Test plant"},
                "characteristics": [{"code": "C-ASSAY-13", "name": "Assay (R-13)"}]}  # fmt: skip
    body = {"document": document, "reason": "CR-12: R-13's characteristic"}
    loaded = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert loaded.status_code == 200, loaded.text
    proposal = tmp_path / "remap.yaml"
    proposal.write_text(
        "document:\n  mappings:\n    - {characteristic: C-ASSAY-13, test: ASSAY}\n"
        "retire:\n  mappings:\n    - {characteristic: C-ASSAY, test_code: ASSAY}\n",
        encoding="utf-8",
    )
    raised = _as(database_url, plant.passwords["admin"], "raise", "--kind", "masterdata",
                 "--proposal", str(proposal), "--title", "Assay reported as C-ASSAY-13",
                 "--reason", "MES recipe R-13 (QD-14)", "--as", "admin")  # fmt: skip
    assert raised.exit_code == 0, raised.output
    code = raised.stdout.split(f"raised {SITE}/")[1].split()[0]
    assessed = labgate(database_url, "assess", code)
    assert assessed.exit_code == 0, assessed.output
    said = " ".join(assessed.stdout.split())  # Rich may wrap long lines
    assert "created mapping C-ASSAY-13/ASSAY/*" in said
    assert "retires (1), from approval" in said
    kept = f"open samples bound (they keep it): {SITE}/{sample}"
    assert f"mapping characteristic=C-ASSAY test_code=ASSAY; {kept}" in said
    approved = _as(database_url, plant.passwords["qa"], "approve", code, "--as", "qa")
    assert approved.exit_code == 0, approved.output
    assert f"{SITE}/{code} approved by qa: effective" in approved.stdout
    planned = plant.call("auditor", "GET", f"/samples/{sample}").json()["tests"]
    assert ("ASSAY", "C-ASSAY") in [(p["test_code"], p["characteristic"]) for p in planned]
