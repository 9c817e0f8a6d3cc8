"""The B2MML codec against the real MESA V0701 XSDs (read from ../shared/b2mml/Schema or
LABGATE_B2MML_SCHEMAS): exported test specifications validate, broken documents are pinpointed,
hostile XML is refused unexpanded, and test results parse to exactly what was written.

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from labgate.adapters.codecs.b2mml import (
    NS,
    MalformedDocument,
    Problem,
    SchemasNotFound,
    export_test_specification,
    parse_xml,
    schema_dir,
    validate,
)
from labgate.domain.errors import InvalidInput, NotFound
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import LimitLine, SpecVersion, TestDefinition

B = {"b": NS}
CREATED = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TESTS = {
    "ASSAY": TestDefinition("T1", "ASSAY", "Assay", "%", "M-ASSAY", "2"),
    "WATER": TestDefinition("T1", "WATER", "Water (KF)", "%", "M-KF", "1"),
    "APPEAR": TestDefinition("T1", "APPEAR", "Appearance", None, "M-VIS", "1", "text"),
}


def spec_version(*limits: LimitLine) -> SpecVersion:
    return SpecVersion(
        "T1",
        "SPEC-A",
        3,
        "author1",
        list(limits)
        or [
            LimitLine("ASSAY", "98.0 - 102.0"),
            LimitLine("WATER", "NMT 0.5", alert="NMT 0.4", action="NMT 0.45"),
            LimitLine("APPEAR", "CONFORMS: White tablet"),
        ],
        SpecStatus.EFFECTIVE,
        "qa",
        datetime(2026, 1, 2, tzinfo=UTC),
        effective_from=datetime(2026, 1, 3, tzinfo=UTC),
    )


def exported() -> bytes:
    return export_test_specification(spec_version(), TESTS, created_at=CREATED)


def texts(root: etree._Element, path: str) -> list[str]:
    return [element.text or "" for element in root.iterfind(path, B)]


# --- export and validation -------------------------------------------------------------------


def test_an_exported_test_specification_validates_against_the_mesa_schema() -> None:
    assert validate(exported()) == []


@pytest.mark.requirement("URS-A11-4")
def test_the_export_round_trips_every_governed_field() -> None:
    root = parse_xml(exported())
    spec = "b:DataArea/b:TestSpecification"
    assert etree.QName(root).localname == "ProcessTestSpecification"
    assert texts(root, "b:ApplicationArea/b:CreationDateTime") == ["2026-11-25T09:00:00.000000Z"]
    assert texts(root, f"{spec}/b:ID") == ["T1/SPEC-A v3"]
    assert texts(root, f"{spec}/b:Version") == ["3"]
    assert texts(root, f"{spec}/b:EffectiveStartDate") == ["2026-01-03T00:00:00.000000Z"]
    assert texts(root, f"{spec}/b:HierarchyScope/b:EquipmentID") == ["T1"]
    properties = {
        p.findtext("b:ID", namespaces=B): {
            "limit": p.findtext("b:Value/b:ValueString", namespaces=B),
            "unit": p.findtext("b:Value/b:UnitOfMeasure", namespaces=B),
            **{
                c.findtext("b:ID", namespaces=B) or "": c.findtext(
                    "b:Value/b:ValueString", namespaces=B
                )
                for c in p.iterfind("b:TestSpecificationPropertyChild", B)
            },
        }
        for p in root.iterfind(f"{spec}/b:TestSpecificationProperty", B)
    }
    assert properties == {
        "ASSAY": {"limit": "98.0 - 102.0", "unit": "%", "method": "M-ASSAY",
                  "method_version": "2", "value_kind": "numeric"},
        "WATER": {"limit": "NMT 0.5", "unit": "%", "method": "M-KF", "method_version": "1",
                  "value_kind": "numeric", "alert": "NMT 0.4", "action": "NMT 0.45"},
        "APPEAR": {"limit": "CONFORMS: White tablet", "unit": None, "method": "M-VIS",
                   "method_version": "1", "value_kind": "text"},
    }  # fmt: skip
    criteria = {
        c.findtext("b:ID", namespaces=B): c.findtext("b:Expression", namespaces=B)
        for c in root.iterfind(f"{spec}/b:TestSpecificationCriteria", B)
    }
    assert criteria == {"ASSAY/limit": "98.0 - 102.0", "WATER/limit": "NMT 0.5",
                        "WATER/alert": "NMT 0.4", "WATER/action": "NMT 0.45",
                        "APPEAR/limit": "CONFORMS: White tablet"}  # fmt: skip
    assert texts(root, f"{spec}/b:EvaluatedProperty/b:ID") == ["ASSAY", "WATER", "APPEAR"]


def test_a_version_without_limits_or_with_an_unknown_test_is_not_exported() -> None:
    empty = spec_version()
    empty.limits = []
    with pytest.raises(InvalidInput) as no_limits:
        export_test_specification(empty, TESTS)
    assert no_limits.value.reason == "b2mml.spec_without_limits"
    with pytest.raises(NotFound) as unknown:
        export_test_specification(spec_version(LimitLine("PH", "5.0 - 7.0")), TESTS)
    assert unknown.value.reason == "b2mml.unknown_test"


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_a_missing_required_element_is_reported_where_it_was_expected() -> None:
    text = exported().decode()
    text = "\n".join(line for line in text.splitlines() if "<CreationDateTime>" not in line)
    assert validate(text.encode()) == [
        Problem(line_of(text, "<BODID>"), "BODID", "This element is not expected. Expected is "
                "one of ( Receiver, CreationDateTime ).")
    ]  # fmt: skip


def test_a_missing_required_last_child_is_reported_on_its_parent() -> None:
    text = exported().decode()
    text = text[: text.index("<EvaluatedProperty>")] + text[text.index("</TestSpecification>") :]
    assert validate(text.encode()) == [  # libxml2 names the parent's start tag
        Problem(line_of(text, "<TestSpecification>"), "TestSpecification", "Missing child "
                "element(s). Expected is one of ( TestSpecificationCriteria, EvaluatedProperty ).")
    ]  # fmt: skip


def test_a_value_of_the_wrong_type_is_reported_on_its_own_line() -> None:
    text = exported().decode().replace("2026-01-03T00:00:00.000000Z", "3 January 2026")
    assert validate(text.encode()) == [
        Problem(line_of(text, "3 January 2026"), "EffectiveStartDate",
                "'3 January 2026' is not a valid value of the atomic type 'xs:dateTime'.")
    ]  # fmt: skip


def test_an_element_the_schema_does_not_know_is_reported() -> None:
    text = exported().decode().replace("<Version>3</Version>", "<Version>3</Version><Bogus/>")
    [problem] = validate(text.encode())
    assert (problem.line, problem.element) == (line_of(text, "<Bogus/>"), "Bogus")
    assert problem.rule.startswith("This element is not expected. Expected is one of ( ")


def test_a_bad_attribute_is_reported_as_element_slash_at_attribute() -> None:
    text = exported().decode().replace("<Process/>", '<Process acknowledgeCode="Sometimes"/>')
    problems = validate(text.encode())
    assert problems and {p.element for p in problems} == {"Process/@acknowledgeCode"}
    assert all(p.line == line_of(text, "<Process ") for p in problems)
    assert "'Sometimes'" in problems[0].rule


def test_an_unknown_root_or_a_foreign_namespace_is_one_problem_naming_the_root() -> None:
    assert validate(b"<Invoice/>") == [
        Problem(1, "Invoice", "no B2MML V0701 schema declares a root element named Invoice.")
    ]
    [problem] = validate(b'<ProcessTestResult xmlns="urn:other"/>')
    assert problem.element == "ProcessTestResult" and NS in problem.rule


@pytest.mark.parametrize(
    "root", ["ProcessOperationsSchedule", "SyncOperationsPerformance", "ProcessMaterialLot"]
)
def test_each_root_is_checked_against_the_schema_that_declares_it(root: str) -> None:
    document = f'<{root} xmlns="{NS}" releaseID="V0701"><ApplicationArea/></{root}>'
    rules = [p.rule for p in validate(document.encode())]
    assert any("CreationDateTime" in rule for rule in rules), rules
    assert any("DataArea" in rule for rule in rules), rules


# --- hostile XML -----------------------------------------------------------------------------


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE ProcessTestResult [\n'
        + "\n".join(entities)
        + f'\n]>\n<ProcessTestResult xmlns="{NS}">&lol9;</ProcessTestResult>'
    ).encode()


XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    f'<ProcessTestResult xmlns="{NS}">&x;</ProcessTestResult>'
).encode()


# An internal subset that is itself garbage: refused as a DOCTYPE, so it was never read.
UNREAD_SUBSET = f'<!DOCTYPE r [ <!ENTITY broken ]><ProcessTestResult xmlns="{NS}"/>'.encode()


@pytest.mark.parametrize(
    "document", [billion_laughs(), XXE, UNREAD_SUBSET], ids=["billion-laughs", "xxe", "unread"]
)
def test_a_doctype_is_refused_before_any_entity_is_read(document: bytes) -> None:
    for read in (validate, parse_xml):
        started = time.perf_counter()
        with pytest.raises(MalformedDocument) as refused:
            read(document)
        assert time.perf_counter() - started < 0.5
        assert refused.value.reason == "b2mml.doctype_forbidden"
        assert "root:" not in refused.value.message  # nothing of /etc/passwd leaks out


def test_text_that_is_not_xml_is_refused_as_not_well_formed() -> None:
    for document in (b"", b"<ProcessTestResult>", b"lab result: 99.5 %"):
        with pytest.raises(MalformedDocument) as refused:
            validate(document)
        assert refused.value.reason == "b2mml.not_well_formed"
        assert refused.value.message.startswith("The document is not well-formed XML: ")


# --- where the schemas are -------------------------------------------------------------------


def test_the_schemas_are_found_beside_the_checkout_or_where_the_setting_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LABGATE_B2MML_SCHEMAS", raising=False)
    found = schema_dir()
    assert (found / "B2MML-OperationsTest.xsd").is_file()
    monkeypatch.setenv("LABGATE_B2MML_SCHEMAS", str(tmp_path))
    assert schema_dir() == tmp_path
    with pytest.raises(SchemasNotFound) as empty:
        validate(exported())
    assert "LABGATE_B2MML_SCHEMAS" in empty.value.message
    monkeypatch.setenv("LABGATE_B2MML_SCHEMAS", str(tmp_path / "missing"))
    with pytest.raises(SchemasNotFound) as missing:
        schema_dir()
    assert "LABGATE_B2MML_SCHEMAS" in missing.value.message
