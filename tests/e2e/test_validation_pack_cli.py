"""`labgate validation pack` through the CLI, on the JUnit report of a real run of three marked
tests: the trace, a gap, a failed test and a requirement tested short of its depth failing the
pack by name, and identical bytes twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labgate.adapters.store.migrate import head_revision, upgrade
from labgate.entrypoints.cli import validation
from labgate.entrypoints.cli.main import app as cli
from labgate.service.validation.requirements import REQUIREMENTS, Requirement

TESTS = Path(__file__).parents[1]
# Three fast tests that carry URS-P11-11.70 and URS-A11-14 (both priority M: positive and
# negative tests asked for): a positive of both, a negative of both, a negative of 11.70 alone.
POSITIVE = "tests/unit/test_approval_effects.py::test_an_approval_leaves_a_signature_bound_to_the_results_content"  # noqa: E501
MARKED = [
    POSITIVE,
    "tests/unit/test_compliance.py::test_a_signature_breaks_when_its_record_changes_and_cannot_move",
    "tests/unit/test_envelope.py::test_a_signature_moved_onto_another_envelope_does_not_verify",
]
TRACED = {"URS-P11-11.70", "URS-A11-14"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JUnit XML of a real pytest run of the two marked tests."""
    junit = tmp_path_factory.mktemp("run") / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={junit}", *MARKED]  # fmt: skip
    ran = subprocess.run(command, cwd=TESTS.parent, capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return junit


@pytest.fixture(autouse=True)
def database(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migrated SQLite database named by LABGATE_DATABASE_URL, as the IQ reads it."""
    path = tmp_path_factory.getbasetemp() / "iq.db"
    if not path.exists():
        upgrade(f"sqlite:///{path}")
    monkeypatch.setenv("LABGATE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("LABGATE_AMQP_URL", raising=False)


def urs(monkeypatch: pytest.MonkeyPatch, *ids: str) -> None:
    """Make the URS the pack checks these requirements only."""
    chosen: tuple[Requirement, ...] = tuple(r for r in REQUIREMENTS if r.id in ids)
    monkeypatch.setattr(validation, "REQUIREMENTS", chosen)


def pack(out: Path, junit: Path) -> tuple[int, str]:
    """Run `labgate validation pack`; its exit code and everything it printed."""
    result = CliRunner().invoke(cli, ["validation", "pack", "--out", str(out),
                                      "--junit", str(junit)])  # fmt: skip
    return result.exit_code, result.output


@pytest.mark.requirement("URS-A11-4", "URS-P11-11.10a")
def test_the_pack_traces_the_run_and_describes_the_installation(
    report: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urs(monkeypatch, *TRACED)
    code, output = pack(tmp_path, report)
    assert code == 0, output
    assert "2 requirements, 3 tests traced, 0 gaps: pass" in output
    rows = json.loads((tmp_path / "trace.json").read_text())["rows"]
    approval = "tests.unit.test_approval_effects::test_an_approval_leaves_a_signature_bound_to_the_results_content"  # noqa: E501
    broken = "tests.unit.test_compliance::test_a_signature_breaks_when_its_record_changes_and_cannot_move"  # noqa: E501
    moved = "tests.unit.test_envelope::test_a_signature_moved_onto_another_envelope_does_not_verify"
    assert {
        row["requirement"]: (row["tests"], row["categories"], row["required_categories"],
                             row["status"])
        for row in rows
    } == {
        "URS-A11-14": ([approval, broken], ["negative", "positive"], ["positive", "negative"],
                       "verified"),
        "URS-P11-11.70": ([approval, broken, moved], ["negative", "positive"],
                          ["positive", "negative"], "verified"),
    }  # fmt: skip
    oq = json.loads((tmp_path / "oq.json").read_text())["tests"]
    assert [(t["category"], t["result"]) for t in oq] == [
        ("positive", "passed"), ("negative", "passed"), ("negative", "passed")
    ]  # fmt: skip
    iq = json.loads((tmp_path / "iq.json").read_text())
    assert iq["database"]["schema_revision"] == head_revision()
    assert iq["broker"] == {"status": "not configured"}
    assert any(p["name"] == "labgate" for p in iq["packages"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"] == "pass" and "trace.html" in summary["files"]


@pytest.mark.requirement("URS-A11-4", category="negative")
def test_a_requirement_without_a_test_is_a_gap_that_fails_the_pack(
    report: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urs(monkeypatch, *TRACED, "URS-A11-16")
    code, output = pack(tmp_path, report)
    assert code == 1
    assert "fails: URS-A11-16 (Business continuity): gap: no test carries" in output
    assert json.loads((tmp_path / "trace.json").read_text())["gaps"] == ["URS-A11-16"]
    assert json.loads((tmp_path / "summary.json").read_text())["verdict"] == "fail"


@pytest.mark.requirement("URS-A11-4", category="negative")
def test_a_failed_test_fails_the_pack_naming_its_requirements(
    report: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urs(monkeypatch, *TRACED)
    # The same report with the moved-signature test failed, as a broken build would write it.
    failed = tmp_path / "failed.xml"
    marker = 'name="test_a_signature_moved_onto_another_envelope_does_not_verify"'
    xml = report.read_text()
    start = xml.index(marker)
    end = xml.index("</testcase>", start)
    failed.write_text(xml[:end] + '<failure message="broken">broken</failure>' + xml[end:])
    code, output = pack(tmp_path / "pack", failed)
    assert code == 1
    assert (
        "fails: URS-P11-11.70 (Signature/record linking): a test of this requirement failed"
        in output
    )
    assert "URS-A11-14" not in output.split("fails:", 1)[1]


@pytest.mark.requirement("URS-A11-4", category="negative")
def test_passed_tests_short_of_the_depth_fail_the_pack_naming_the_missing_category(
    report: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urs(monkeypatch, *TRACED)
    # The same report without its one positive test: every test left passed, none positive.
    shallow = tmp_path / "shallow.xml"
    xml = report.read_text()
    start = xml.rindex("<testcase", 0, xml.index('name="test_an_approval_leaves'))
    end = xml.index("</testcase>", start) + len("</testcase>")
    shallow.write_text(xml[:start] + xml[end:])
    code, output = pack(tmp_path / "pack", shallow)
    assert code == 1
    assert (
        "fails: URS-A11-14 (Electronic signature): verified, but not to the depth its risk asks "
        "(priority M): missing positive" in output
    )
    assert "fails: URS-P11-11.70 (Signature/record linking): verified, but not" in output
    rows = json.loads((tmp_path / "pack" / "trace.json").read_text())["rows"]
    assert [(r["status"], r["missing_categories"]) for r in rows] == [("shallow", ["positive"])] * 2
    summary = json.loads((tmp_path / "pack" / "summary.json").read_text())
    assert (summary["verdict"], summary["counts"]["shallow"]) == ("fail", 2)


def test_two_builds_of_one_run_are_the_same_bytes(
    report: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urs(monkeypatch, *TRACED)
    assert pack(tmp_path / "a", report)[0] == 0
    assert pack(tmp_path / "b", report)[0] == 0
    names = sorted(os.listdir(tmp_path / "a"))
    assert names == sorted(os.listdir(tmp_path / "b"))
    assert "summary.pdf" in names and "SHA256SUMS" in names
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
