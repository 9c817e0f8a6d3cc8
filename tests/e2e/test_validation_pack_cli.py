"""`labgate validation pack` through the CLI, on the JUnit report of a real run of two marked
tests: the trace, a gap and a failed test failing the pack by name, and identical bytes twice."""

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
MARKED = [  # two fast tests that carry URS-P11-11.10c and URS-P11-11.10e
    "tests/unit/test_compliance.py::test_an_edited_entry_is_named",
    "tests/unit/test_compliance.py::test_an_intact_chain_verifies",
]
TRACED = {"URS-P11-11.10c", "URS-P11-11.10e"}


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
    assert "2 requirements, 2 tests traced, 0 gaps: pass" in output
    rows = json.loads((tmp_path / "trace.json").read_text())["rows"]
    assert {row["requirement"]: (row["tests"], row["status"]) for row in rows} == {
        "URS-P11-11.10c": (["tests.unit.test_compliance::test_an_edited_entry_is_named"],
                           "verified"),
        "URS-P11-11.10e": (["tests.unit.test_compliance::test_an_edited_entry_is_named",
                            "tests.unit.test_compliance::test_an_intact_chain_verifies"],
                           "verified"),
    }  # fmt: skip
    oq = json.loads((tmp_path / "oq.json").read_text())["tests"]
    assert [(t["category"], t["result"]) for t in oq] == [("negative", "passed"),
                                                          ("positive", "passed")]  # fmt: skip
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
    # The same report with the intact-chain test failed, as a broken build would write it.
    failed = tmp_path / "failed.xml"
    marker = 'name="test_an_intact_chain_verifies"'
    xml = report.read_text()
    start = xml.index(marker)
    end = xml.index("</testcase>", start)
    failed.write_text(xml[:end] + '<failure message="broken">broken</failure>' + xml[end:])
    code, output = pack(tmp_path / "pack", failed)
    assert code == 1
    assert "fails: URS-P11-11.10e (Audit trail): a test of this requirement failed" in output
    assert "URS-P11-11.10c" not in output.split("fails:", 1)[1]


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
