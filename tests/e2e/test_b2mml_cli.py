"""`labgate b2mml` as an operator drives it: validate a file (exit 0 valid, 1 invalid, 2 unreadable)
and export the test plant's effective specification versions, on SQLite and PostgreSQL.

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.
"""

from __future__ import annotations

from pathlib import Path

import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from labgate.adapters.codecs.b2mml import NS, export_test_specification, parse_xml, validate
from labgate.bootstrap import Hub
from labgate.config import Settings
from labgate.domain.masterdata import LimitLine, SpecVersion, TestDefinition
from labgate.entrypoints.cli.b2mml import b2mml_app
from plant import SITE, seed


def cli() -> typer.Typer:
    """A throwaway command line holding only the b2mml commands."""
    app = typer.Typer()
    app.add_typer(b2mml_app, name="b2mml")
    return app


def labgate(*args: str, url: str | None = None) -> Result:
    return CliRunner().invoke(cli(), ["b2mml", *args], env={"LABGATE_DATABASE_URL": url})


def a_document() -> bytes:
    version = SpecVersion("T1", "SPEC-X", 1, "author1", [LimitLine("PH", "5.0 - 7.0")])
    tests = {"PH": TestDefinition("T1", "PH", "pH", None, "M-PH", "1")}
    return export_test_specification(version, tests)


def test_a_valid_document_exits_0_and_says_so(tmp_path: Path) -> None:
    file = tmp_path / "spec.xml"
    file.write_bytes(a_document())
    answer = labgate("validate", str(file))
    assert (answer.exit_code, answer.output) == (0, "valid\n")


def test_an_invalid_document_exits_1_with_one_line_per_problem(tmp_path: Path) -> None:
    file = tmp_path / "spec.xml"
    file.write_bytes(a_document().replace(b"<Version>1</Version>", b"<Version>1</Version><X/>"))
    answer = labgate("validate", str(file))
    assert answer.exit_code == 1
    [line] = answer.output.splitlines()
    assert line.startswith("line 15: X: This element is not expected.")


def test_an_unreadable_or_hostile_file_exits_2_with_a_sentence(tmp_path: Path) -> None:
    missing = labgate("validate", str(tmp_path / "nowhere.xml"))
    assert missing.exit_code == 2
    assert "cannot read" in missing.output and "nowhere.xml" in missing.output
    broken = tmp_path / "broken.xml"
    broken.write_text("<ProcessTestResult>", encoding="utf-8")
    answer = labgate("validate", str(broken))
    assert answer.exit_code == 2
    assert "not well-formed XML" in answer.output and "[b2mml.not_well_formed]" in answer.output
    xxe = tmp_path / "xxe.xml"
    xxe.write_text(
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f'<ProcessTestResult xmlns="{NS}">&x;</ProcessTestResult>',
        encoding="utf-8",
    )
    answer = labgate("validate", str(xxe))
    assert answer.exit_code == 2
    assert "[b2mml.doctype_forbidden]" in answer.output and "root:" not in answer.output


def test_export_writes_one_valid_file_per_effective_version(
    hub: Hub, client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    seed(hub, client)
    out = tmp_path / "b2mml"
    answer = labgate("export", "test-specs", "--out", str(out), url=settings.database_url)
    assert answer.exit_code == 0, answer.output
    assert answer.output == f"Wrote 2 test specifications to {out}.\n"
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{SITE}_SPEC-A_v1.xml", f"{SITE}_SPEC-A_v2.xml"]
    for number, file in enumerate(files, 1):
        assert validate(file.read_bytes()) == []
        assert labgate("validate", str(file)).exit_code == 0
        root = parse_xml(file.read_bytes())
        assert root.findtext("b:DataArea/b:TestSpecification/b:ID", namespaces={"b": NS}) == (
            f"{SITE}/SPEC-A v{number}"
        )
    assay = "b:DataArea/b:TestSpecification/b:TestSpecificationCriteria[b:ID='ASSAY/limit']"
    expressions = [
        parse_xml(f.read_bytes()).findtext(f"{assay}/b:Expression", namespaces={"b": NS})
        for f in files
    ]
    assert expressions == ["NLT 98.0", "NLT 99.0"]


def test_export_with_nothing_effective_writes_nothing(
    hub: Hub, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "b2mml"
    answer = labgate("export", "test-specs", "--out", str(out), url=settings.database_url)
    assert (answer.exit_code, answer.output) == (0, f"Wrote 0 test specifications to {out}.\n")
    assert list(out.iterdir()) == []
