"""`labgate conformance run --partner mes --format b2mml` against the simulated MES started as a
process in B2MML mode (`labgate-sim mes --format b2mml`), as a plant whose MES speaks B2MML runs
it before go-live: every case passes against the conforming simulator; one started --broken
accept-schema-drift (it takes documents the V0701 XSD refuses) fails that case and the report
says why; the report records the format and its signature holds; a LIMS has no B2MML path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_conformance import Sims
from typer.testing import CliRunner

from labgate.entrypoints.cli.main import app
from labgate.service.conformance.cases import Kind

B2MML_TYPES = ("labgate.lot_status.v1", "labgate.mes_result.v1", "labgate.result_status.v1",
               "labgate.sample_acknowledgement.v1")  # fmt: skip
B2MML = ("--format", "b2mml")


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sims]:
    """A conforming B2MML MES and one that skips the XSD, started together."""
    running = Sims(tmp_path_factory.mktemp("conformance-b2mml"))
    running.start("mes", "mes", *B2MML)
    running.start("drift", "mes", *B2MML, "--broken", "accept-schema-drift")
    yield running
    running.stop()


def _report(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((out / "conformance-report.json").read_bytes())
    return report


@pytest.mark.requirement("URS-A11-5", category="positive")
def test_every_b2mml_case_passes_against_the_simulated_mes_in_b2mml_mode(
    sims: Sims, tmp_path: Path
) -> None:
    done = sims.run("mes", "mes", tmp_path, *B2MML)
    assert done.exit_code == 0, done.output
    report = _report(tmp_path)
    assert report["format"] == "b2mml" and report["partner"] == "mes"
    cases = report["cases"]
    assert report["summary"] == {"cases": 7 * 4, "passed": 7 * 4, "failed": 0, "result": "pass"}
    assert {(c["message_type"], c["case"]) for c in cases} == {
        (schema, kind.value) for schema in B2MML_TYPES for kind in Kind
    }
    for case in cases:
        assert case["checked"] == "the answers and the partner's record of what it applied"
        for exchange in case["exchanges"]:
            sent = exchange["sent"]
            assert sent["headers"]["Content-Type"] == "application/xml"
            assert sent["document"].startswith("<?xml")
            assert len(sent["sha256"]) == 64 and exchange["answer"]["status"] > 0
    held = next(c for c in cases if c["case"] == "out_of_order")["exchanges"][0]["answer"]
    assert held["status"] == 202, held
    drift = next(c for c in cases if c["case"] == "schema_drift")["exchanges"]
    assert all("b2mml.invalid" in e["answer"]["body"] for e in drift)
    stale = next(c for c in cases if c["case"] == "replay_window")["exchanges"]
    assert all("envelope.replay_window" in e["answer"]["body"] for e in stale)
    assert "mes at http" in (tmp_path / "report.txt").read_text()
    assert "b2mml" in (tmp_path / "report.txt").read_text().splitlines()[0]


@pytest.mark.requirement("URS-A11-5", category="negative")
def test_a_simulator_that_takes_invalid_documents_fails_schema_drift_and_the_report_says_why(
    sims: Sims, tmp_path: Path
) -> None:
    done = sims.run("mes", "drift", tmp_path, *B2MML, "--message-type=labgate.mes_result.v1")
    assert done.exit_code == 1, done.output
    failed = [c for c in _report(tmp_path)["cases"] if c["result"] == "fail"]
    assert [(c["message_type"], c["case"]) for c in failed] == [
        ("labgate.mes_result.v1", "schema_drift")
    ]
    why = failed[0]["why"]
    assert "unknown element ApplicationArea/XUnannounced: answered HTTP 200" in why, why
    assert "not 4xx" in why and "1 time(s), not 0" in why
    assert "FAILED labgate.mes_result.v1 schema_drift: " in done.stderr


@pytest.mark.requirement("URS-A11-5", category="negative")
def test_the_b2mml_report_signature_holds_and_a_changed_report_breaks_it(
    sims: Sims, tmp_path: Path
) -> None:
    done = sims.run("mes", "mes", tmp_path, *B2MML, "--message-type=labgate.lot_status.v1")
    assert done.exit_code == 0, done.output
    verify = ["conformance", "verify", str(tmp_path), "--public-key", str(sims.public)]
    checked = CliRunner().invoke(app, verify)
    assert checked.exit_code == 0, checked.output
    report = tmp_path / "conformance-report.json"
    report.write_bytes(report.read_bytes().replace(b'"format":"b2mml"', b'"format":"json"', 1))
    changed = CliRunner().invoke(app, verify)
    assert changed.exit_code == 1
    assert "envelope.bad_signature" in changed.output


@pytest.mark.requirement("URS-A11-5", category="negative")
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--partner", "lims"), "labgate sends the lims JSON envelopes only"),
        (("--partner", "mes", "--message-type", "labgate.batch_hold.v1"),
         "labgate sends the mes no 'labgate.batch_hold.v1' as B2MML"),
        (("--partner", "mes", "--format", "xml"), "--format is json or b2mml, not 'xml'"),
    ],
)  # fmt: skip
def test_a_run_labgate_cannot_play_in_b2mml_is_refused_with_exit_2(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    fmt = () if "--format" in args else B2MML
    command = ["conformance", "run", "--target", "http://127.0.0.1:9/", "--out", str(tmp_path),
               *fmt, *args]  # fmt: skip
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 2, done.output
    assert says in done.output
    assert not (tmp_path / "conformance-report.json").exists()
