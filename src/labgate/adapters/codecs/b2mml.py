"""B2MML V0701 documents: hardened parsing, validation against the MESA schemas, test
specifications out (the message documents are in `b2mml_messages`).

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.

The XSDs are not copied into labgate: `schema_dir()` finds them (LABGATE_B2MML_SCHEMAS, else a
`shared/b2mml/Schema` folder beside the checkout). A document is validated against the schema that
declares its root element; each schema is compiled once per process.

labgate's profile of the schemas (what it writes and what it reads):

    ProcessTestSpecification/DataArea/TestSpecification   one specification version
        ID "SITE/SPEC vN", Description, Version N, EffectiveStartDate (EndDate once retired),
        HierarchyScope = the site
        TestSpecificationProperty  one per limit line: ID test code, Description test name,
                                   Value = the limit as governed text, UnitOfMeasure = canonical
                                   unit; children method, method_version (current), value_kind,
                                   alert, action
        TestSpecificationCriteria  "<test>/limit" (and /alert, /action): Expression + property ID
        EvaluatedProperty          one per test code, naming its criteria (the schema wants one)

Errors, under labgate.domain.errors.LabgateError:

    InvalidInput
    ├── MalformedDocument   not well-formed XML, or a DOCTYPE (b2mml.doctype_forbidden)
    └── InvalidDocument     breaks the schema or the profile; `problems` says where
    SchemasNotFound         the XSD folder is missing or unreadable: a setup fault, not the sender's
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree
from uuid6 import uuid7

from labgate.compliance.clock import iso_utc
from labgate.domain.errors import InvalidInput, LabgateError, NotFound
from labgate.domain.masterdata import LimitLine, SpecVersion, TestDefinition
from labgate.domain.sampling import RELEASE_SET

NS = "http://www.mesa.org/xml/B2MML"
RELEASE_ID = "V0701"
SCHEMAS_ENV = "LABGATE_B2MML_SCHEMAS"

_B = {"b": NS}
_XSD_ELEMENT = "{http://www.w3.org/2001/XMLSchema}element"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_LIBXML_MESSAGE = re.compile(r"Element '([^']*)'(?:, attribute '([^']*)')?: (.*)", re.DOTALL)
_BANDS = {"limit": "Acceptance limit", "alert": "Alert limit", "action": "Action limit"}


@dataclass(frozen=True)
class Problem:
    """One way a document breaks its schema: the line, the element, the rule."""

    line: int
    element: str
    rule: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.element}: {self.rule}"


class MalformedDocument(InvalidInput):
    """Bytes labgate will not read as XML: not well-formed, or carrying a DOCTYPE."""

    default_reason = "b2mml.not_well_formed"


class InvalidDocument(InvalidInput):
    """A well-formed document that breaks the B2MML schema or labgate's profile of it."""

    default_reason = "b2mml.invalid"

    def __init__(self, message: str, problems: list[Problem], *, reason: str | None = None):
        super().__init__(message, reason=reason)
        self.problems = problems


class SchemasNotFound(LabgateError):
    """The B2MML XSD folder is missing or unreadable: the installation is at fault."""

    default_reason = "b2mml.schemas_not_found"


def schema_dir() -> Path:
    """The folder of B2MML V0701 XSDs: LABGATE_B2MML_SCHEMAS, else shared/b2mml/Schema found
    walking up from this file (the checkout's sibling `shared/`)."""
    configured = os.environ.get(SCHEMAS_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise SchemasNotFound(
                f"{SCHEMAS_ENV} is {configured!r}, which is not a folder; point it at the folder "
                "holding the B2MML V0701 XSDs (B2MML-OperationsTest.xsd and its includes).",
                field=SCHEMAS_ENV,
            )
        return path
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "b2mml" / "Schema"
        if candidate.is_dir():
            return candidate
    raise SchemasNotFound(
        "The B2MML V0701 schemas were not found: set LABGATE_B2MML_SCHEMAS to the folder holding "
        "B2MML-OperationsTest.xsd, or put shared/b2mml/Schema beside the labgate checkout.",
        field=SCHEMAS_ENV,
    )


class _DoctypeSeen(Exception):
    pass


if TYPE_CHECKING:  # a stub-only protocol: lxml calls only the methods a target defines
    _Target = etree.ParserTarget[None]
else:
    _Target = object


class _RefuseDoctype(_Target):
    """A parser target that stops at `<!DOCTYPE`, before any entity declaration is read."""

    def doctype(self, name: str | None, public_id: str | None, system_id: str | None, /) -> None:
        raise _DoctypeSeen(name)

    def close(self) -> None:
        return None


def _parser() -> etree.XMLParser:
    # A new parser per document: lxml parsers must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
    )


def _refuse_doctype(xml: bytes) -> None:
    """A first pass that builds nothing and stops at `<!DOCTYPE`, before the internal subset is
    read: no entity is ever declared, let alone expanded (billion laughs, XXE)."""
    guard = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
        target=_RefuseDoctype(),
    )
    etree.fromstring(xml, guard)


def parse_xml(xml: bytes) -> etree._Element:
    """The root element, read with entities, DTDs and the network off; a DOCTYPE is refused."""
    try:
        _refuse_doctype(xml)
        root = etree.fromstring(xml, _parser())
    except _DoctypeSeen:
        raise MalformedDocument(
            "The document has a DOCTYPE declaration; B2MML documents need none, and labgate "
            "refuses them because entities are an attack vector. Remove the DOCTYPE and resend.",
            reason="b2mml.doctype_forbidden",
        ) from None
    except etree.XMLSyntaxError as error:
        raise MalformedDocument(f"The document is not well-formed XML: {error.msg}.") from None
    return root


def validate(xml: bytes) -> list[Problem]:
    """Every way the document breaks the schema of its root element; empty if it is valid.
    Raises MalformedDocument for bytes that are not well-formed XML or carry a DOCTYPE."""
    return _problems(parse_xml(xml))


def _problems(root: etree._Element) -> list[Problem]:
    index = _root_index(schema_dir())
    xsd = index.get(str(root.tag))
    if xsd is None:
        return [_unknown_root(root, index)]
    schema, lock = _compiled(xsd)
    with lock:  # the error log lives on the schema object: one validation at a time
        if schema.validate(root.getroottree()):
            return []
        entries = list(schema.error_log)
    return [_problem(entry) for entry in entries]


@functools.cache
def _root_index(directory: Path) -> dict[str, Path]:
    """`{namespace}Name` of every top-level element -> the XSD that declares it."""
    index: dict[str, Path] = {}
    for xsd in sorted(directory.glob("*.xsd")):
        schema = _read_xsd(xsd)
        namespace = schema.get("targetNamespace")
        for element in schema.iterchildren(_XSD_ELEMENT):
            index.setdefault(f"{{{namespace}}}{element.get('name')}", xsd)
    if not index:
        raise SchemasNotFound(
            f"{directory} holds no B2MML element declarations; point {SCHEMAS_ENV} at the "
            "B2MML V0701 Schema folder.",
            field=SCHEMAS_ENV,
        )
    return index


@functools.cache
def _compiled(xsd: Path) -> tuple[etree.XMLSchema, threading.Lock]:
    try:
        schema = etree.XMLSchema(_read_xsd(xsd).getroottree())
    except etree.XMLSchemaParseError as error:
        raise SchemasNotFound(
            f"The B2MML schema {xsd} does not compile ({error}); restore the V0701 files.",
            reason="b2mml.schemas_unreadable",
        ) from None
    return schema, threading.Lock()


def _read_xsd(xsd: Path) -> etree._Element:
    try:
        return etree.parse(str(xsd), _parser()).getroot()
    except (OSError, etree.XMLSyntaxError) as error:
        raise SchemasNotFound(
            f"The B2MML schema {xsd} cannot be read ({error}); restore the V0701 files.",
            reason="b2mml.schemas_unreadable",
        ) from None


def _unknown_root(root: etree._Element, index: Mapping[str, Path]) -> Problem:
    name = etree.QName(root)
    if f"{{{NS}}}{name.localname}" in index:
        rule = (
            f"the root element must be in the B2MML namespace {NS}, "
            f"not in {name.namespace or 'no namespace'}."
        )
    else:
        rule = f"no B2MML V0701 schema declares a root element named {name.localname}."
    return Problem(root.sourceline or 1, name.localname, rule)


def _problem(entry: etree._LogEntry) -> Problem:
    match = _LIBXML_MESSAGE.match(entry.message)
    if match is None:
        return Problem(entry.line, "(document)", _short(entry.message))
    element, attribute, rule = match.groups()
    if attribute:
        element = f"{element}/@{attribute}"
    return Problem(entry.line, _short(element), _short(rule))


def _short(text: str) -> str:
    """B2MML names without their namespace; names in any other namespace keep theirs."""
    return text.replace(f"{{{NS}}}", "")


# --- test specifications out -------------------------------------------------------------------


def export_test_specification(
    version: SpecVersion,
    tests: Mapping[str, TestDefinition],
    *,
    created_at: datetime | None = None,
) -> bytes:
    """A ProcessTestSpecification document for one specification version; `tests` maps each
    test code of its limit lines to the site's test definition."""
    # The TestSpecification is the release specification; IPC limit sets judge in-process
    # samples only and would list a test twice under two limits.
    release = version.lines_of(RELEASE_SET)
    if not release:
        raise InvalidInput(
            f"Specification {version.site}/{version.ref} has no limit lines; a B2MML "
            "TestSpecification needs at least one evaluated property.",
            reason="b2mml.spec_without_limits",
            field="limits",
        )
    lines = [(line, _definition(version, line, tests)) for line in release]
    root = etree.Element(_q("ProcessTestSpecification"), nsmap={None: NS}, releaseID=RELEASE_ID)
    area = _add(root, "ApplicationArea")
    _add(_add(area, "Sender"), "LogicalID", "labgate")
    _add(area, "CreationDateTime", iso_utc(created_at or datetime.now(UTC)))
    _add(area, "BODID", str(uuid7()))
    data = _add(root, "DataArea")
    _add(data, "Process")
    spec = _add(data, "TestSpecification")
    _add(spec, "ID", f"{version.site}/{version.ref}")
    _add(
        spec,
        "Description",
        f"Specification {version.ref} of site {version.site} ({version.status}).",
    )
    _add(spec, "Version", str(version.version))
    if version.effective_from is not None:
        _add(spec, "EffectiveStartDate", iso_utc(version.effective_from))
    if version.retired_at is not None:
        _add(spec, "EffectiveEndDate", iso_utc(version.retired_at))
    scope = _add(spec, "HierarchyScope")
    _add(scope, "EquipmentID", version.site)
    _add(scope, "EquipmentLevel", "Site")
    for line, test in lines:
        _property(spec, line, test)
    for line, _ in lines:
        _criteria(spec, line)
    for line, test in lines:
        evaluated = _add(spec, "EvaluatedProperty")
        _add(evaluated, "ID", test.code)
        _add(evaluated, "Description", test.name)
        for band in _bands(line):
            _add(evaluated, "TestSpecificationCriteriaID", f"{line.test_code}/{band}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _definition(
    version: SpecVersion, line: LimitLine, tests: Mapping[str, TestDefinition]
) -> TestDefinition:
    test = tests.get(line.test_code)
    if test is None:
        raise NotFound(
            f"Specification {version.site}/{version.ref} limits test {line.test_code}, which has "
            f"no test definition at site {version.site}; pass it in `tests`.",
            reason="b2mml.unknown_test",
            field="tests",
        )
    return test


def _property(spec: etree._Element, line: LimitLine, test: TestDefinition) -> None:
    prop = _add(spec, "TestSpecificationProperty")
    _add(prop, "ID", test.code)
    _add(prop, "Description", test.name)
    _value(prop, line.limit, "string", test.unit)
    children = (
        ("method", test.method, "Identifier", None),
        ("method_version", test.current_method_version, "Identifier", None),
        ("value_kind", test.value_kind, "string", None),
        ("alert", line.alert, "string", test.unit),
        ("action", line.action, "string", test.unit),
    )
    for key, text, data_type, unit in children:
        if text is not None:
            child = _add(prop, "TestSpecificationPropertyChild")
            _add(child, "ID", key)
            _value(child, text, data_type, unit)


def _criteria(spec: etree._Element, line: LimitLine) -> None:
    for band, expression in _bands(line).items():
        criterion = _add(spec, "TestSpecificationCriteria")
        _add(criterion, "ID", f"{line.test_code}/{band}")
        _add(criterion, "Description", f"{_BANDS[band]} for {line.test_code}")
        _add(criterion, "Expression", expression)
        _add(criterion, "EvaluatedPropertyID", line.test_code)


def _bands(line: LimitLine) -> dict[str, str]:
    bands = {"limit": line.limit, "alert": line.alert, "action": line.action}
    return {band: text for band, text in bands.items() if text is not None}


def _value(parent: etree._Element, text: str, data_type: str, unit: str | None) -> None:
    value = _add(parent, "Value")
    _add(value, "ValueString", text)
    _add(value, "DataType", data_type)
    if unit is not None:
        _add(value, "UnitOfMeasure", unit)


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _q(name))
    child.text = text
    return child


def _text(parent: etree._Element, name: str, inherited: str | None) -> str | None:
    """A child's text as written (comments aside); the inherited value if it is absent, None if
    it is nil."""
    child = parent.find(f"b:{name}", _B)
    if child is None:
        return inherited
    if child.get(_XSI_NIL) in ("true", "1"):
        return None
    return "".join(child.itertext())
