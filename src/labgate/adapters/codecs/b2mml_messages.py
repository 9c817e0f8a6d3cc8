"""labgate's message payloads as B2MML V0701 documents, for an MES that speaks B2MML: `to_b2mml`
for what the outbox relay delivers, `from_b2mml` for what the inbox receives.

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.

V0701's TestResult has no element for a specification, a method version, a person or a lot
(B2MML-OperationsTest.xsd, TestResultType). labgate writes each such member as a
PropertyMeasurement with ID "<test code>/<member>" (as its test specifications name criteria
"<test code>/limit"), leaves null members out, and reads the same facets back.

    labgate.mes_result.v1   ProcessTestResult/DataArea/TestResult (lot-typed: b2mml_lots)
        ID result_id, EvaluationDate approved_at, HierarchyScope site, TestableObjectID sample_id,
        OperationsTestRequirementID mes_request_id, EvaluatedCriterionResult result_status,
        PropertyMeasurement ID test_code: TestableObjectPropertyID characteristic, Value the
        reported value (a text result: the text) and unit, WorkDefinitionID method
    labgate.result_status.v1   SyncTestResult: the same TestResult, without a value
    labgate.lims_sample_request.v1      ProcessOperationsSchedule
    labgate.sample_acknowledgement.v1   AcknowledgeOperationsSchedule, ResponseExpression Accepted
        OperationsSchedule ID sample, OperationsType Quality; OperationsRequest ID mes_request_id
        (else sample); SegmentRequirement: SegmentParameter per test (ParameterChild method,
        method_version, characteristic), MaterialRequirement ID sample, MaterialSubLotID sample
        (schemeAgencyID labgate; the LIMS's id: lims), MaterialUse Destructive Sample,
        TestSpecificationID "<site>/<spec> vN" (the ID export_test_specification writes)

Read by from_b2mml, after validation:

    ProcessOperationsSchedule: one labgate.sample_request.v1 per OperationsRequest, which must hold
        exactly one MaterialRequirement with a Sample MaterialUse, under OperationsType Quality
        (the segment's, else the request's, else the schedule's)
        mes_request_id OperationsRequest/ID; product MaterialDefinitionID; batch MaterialLotID
        (a lot if schemeName="lot"); container StorageLocation/Location; characteristics the
        MaterialRequirementProperty IDs; sampled_at EarliestStartTime, else the request's
        StartTime; sampling_point / equipment the EquipmentRequirement whose EquipmentUse is /
        is not "Sampling point"
    ProcessTestResult | SyncTestResult: one labgate.result.v1 per PropertyMeasurement of a test
        sample TestableObjectID; value, unit its Value; method_version, analyst, reviewer,
        retest_of and lims_status from facets (lims_status else EvaluatedCriterionResult);
        approved_at EvaluationDate, if approved. A TestResultChild inherits what it leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lxml import etree
from pydantic import BaseModel, ValidationError

from labgate.adapters.codecs import b2mml_lots as lots
from labgate.adapters.codecs.b2mml import NS, InvalidDocument, Problem, _add, _problems, _text
from labgate.adapters.codecs.b2mml import parse_xml as parse_xml
from labgate.adapters.codecs.b2mml_lots import material_lot_document
from labgate.compliance.canonical import to_jsonable
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.service.messages import (
    FIELD_LENGTH,
    INBOUND,
    OUTBOUND,
    LimsSampleRequestV1,
    LotStatusV1,
    MesResultV1,
    ResultStatusV1,
    SampleAcknowledgementV1,
    parse_payload,
)

__all__ = ["UnsupportedMessage", "from_b2mml", "material_lot_document", "to_b2mml"]

UNMAPPABLE = "b2mml.unmappable"
SEGMENT = "labgate:quality-test"  # one id for the three segment ids a SegmentRequirement needs
WRITTEN = ("labgate.mes_result.v1", "labgate.result_status.v1",
           "labgate.lims_sample_request.v1", "labgate.sample_acknowledgement.v1",
           "labgate.lot_status.v1")  # fmt: skip
# What a lot's status document carries as MaterialLotProperty, besides its keys and status.
LOT_PROPERTIES = ("supplier", "supplier_lot", "sample_id", "decided_by", "reason")
_RESULT_FACETS = tuple(member for member in lots.FACET_TYPES if member != "method")
_RESULT_MEMBERS = ("method_version", "analyst", "retest_of", "reviewer")  # facets read back
_B = {"b": NS}
Found = tuple[Any, str]  # a value read (None if absent) and the path of its element
Item = tuple[str, dict[str, Any]]


class UnsupportedMessage(LabgateError):
    """A message labgate has no B2MML mapping for: the relay is routing it wrongly."""

    default_reason = "b2mml.unsupported_message"


# --- out ---------------------------------------------------------------------------------------


def to_b2mml(
    schema_id: str, payload: Mapping[str, Any], *, message_id: str, sent_at: datetime
) -> bytes:
    """The B2MML document for an outbound payload, validated against the MESA schemas."""
    frame: dict[str, Any] = {"message_id": message_id, "sent_at": sent_at}
    match _outbound(schema_id, payload):
        case MesResultV1() as result if result.lot is not None and result.batch is None:
            return lots.lot_result_document(result, **frame)
        case MesResultV1() | ResultStatusV1() as result:
            verb, action = ("Process", None) if isinstance(result, MesResultV1) else ("Sync", "Add")
            root, data = lots.document(f"{verb}TestResult", verb, action=action, **frame)
            _test_result(data, result)
            return lots.finished(root)
        case LimsSampleRequestV1() | SampleAcknowledgementV1() as request:
            return _schedule(request, frame)
        case LotStatusV1() as lot:
            properties = {key: str(getattr(lot, key)) for key in LOT_PROPERTIES}
            properties["full_panel"] = "true" if lot.full_panel else "false"
            properties["decided_at"] = str(to_jsonable(lot.decided_at))  # as in the JSON form
            return lots.material_lot_document(lot.lot, lot.material, lot.site, lot.status,
                                              properties, **frame)  # fmt: skip
    raise AssertionError(schema_id)  # pragma: no cover - _outbound returns only the cases above


def _outbound(schema_id: str, payload: Mapping[str, Any]) -> BaseModel:
    if schema_id not in WRITTEN:
        raise UnsupportedMessage(
            f"labgate has no B2MML mapping for {schema_id[:80]!r}; it writes "
            f"{', '.join(WRITTEN)}. Route other messages to a JSON channel.",
            field="schema",
        )
    try:
        return OUTBOUND[schema_id].model_validate(dict(payload))
    except ValidationError as error:  # the outbox wrote what its own schema refuses: a bug
        first = error.errors()[0]
        path = ".".join(["payload", *map(str, first["loc"])])[:FIELD_LENGTH]
        raise InvalidInput(
            f"The {schema_id} payload cannot be written as B2MML: {path}: {first['msg']}.",
            reason="b2mml.invalid_payload",
            field=path,
        ) from None


def _test_result(data: etree._Element, result: MesResultV1 | ResultStatusV1) -> None:
    """One TestResult, in TestResultType's order; a preliminary result's status has no value."""
    element = _add(data, "TestResult")
    _add(element, "ID", result.result_id)
    full = result if isinstance(result, MesResultV1) else None
    if full is not None and full.approved_at is not None:
        _add(element, "EvaluationDate", full.approved_at)
    lots.scope(element, result.site)
    _add(element, "TestableObjectID", result.sample_id)
    if result.mes_request_id is not None:  # the MES's request is the operations' test requirement
        _add(element, "OperationsTestRequirementID", result.mes_request_id)
    _add(element, "EvaluatedCriterionResult", result.result_status)
    measurement = _add(element, "PropertyMeasurement")
    _add(measurement, "ID", result.test_code)
    if full is None:
        key = f"{result.test_code}/lims_status"
        lots.keyed(element, "PropertyMeasurement", key, result.lims_status, "Code")
        return
    if full.characteristic is not None:
        _add(measurement, "TestableObjectPropertyID", full.characteristic)
    lots.value(measurement, *lots.reported(full), full.unit)
    _add(measurement, "WorkDefinitionID", full.method)  # the procedure the measurement followed
    for member, text, data_type, unit in lots.facets(full, _RESULT_FACETS):
        key = f"{full.test_code}/{member}"
        lots.keyed(element, "PropertyMeasurement", key, text, data_type, unit)


def _schedule(
    request: LimsSampleRequestV1 | SampleAcknowledgementV1, frame: Mapping[str, Any]
) -> bytes:
    ack = request if isinstance(request, SampleAcknowledgementV1) else None
    verb = "Process" if ack is None else "Acknowledge"
    root, data = lots.document(f"{verb}OperationsSchedule", verb, **frame)
    if ack is not None:  # TransAcknowledgeType/ResponseCriteria: the request is accepted
        _add(_add(data[0], "ResponseCriteria"), "ResponseExpression").set("actionCode", "Accepted")
    schedule = _add(data, "OperationsSchedule")
    _add(schedule, "ID", request.sample_id)
    lots.scope(schedule, request.site)
    _add(schedule, "OperationsType", lots.QUALITY)
    operations = _add(schedule, "OperationsRequest")
    _add(operations, "ID", request.mes_request_id or request.sample_id)
    _add(operations, "OperationsType", lots.QUALITY)
    segment = _add(operations, "SegmentRequirement")
    _add(segment, "ID", request.sample_id)
    _add(segment, "OperationsType", lots.QUALITY)
    for name in ("ProcessSegmentID", "OperationsDefinitionID", "OperationsSegmentID"):
        _add(segment, name, SEGMENT)  # OpSegmentRequirementType makes all three mandatory
    for test in request.tests:
        # A test is an instruction to the quality segment, with a method and its version:
        # SegmentParameter holds both; a TestSpecificationID could only name a specification.
        parameter = _add(segment, "SegmentParameter")
        _add(parameter, "ID", test.test_code)
        for key in ("method", "method_version", "characteristic"):
            if (text := getattr(test, key, None)) is not None:
                lots.keyed(parameter, "ParameterChild", key, text, "Identifier")
    # OpMaterialRequirementType: the sample is a sublot of what it was drawn from.
    material = _add(segment, "MaterialRequirement")
    _add(material, "ID", request.sample_id)
    _add(material, "MaterialSubLotID", request.sample_id).set("schemeAgencyID", "labgate")
    if ack is not None and ack.lims_sample_id is not None:
        _add(material, "MaterialSubLotID", ack.lims_sample_id).set("schemeAgencyID", "lims")
    _add(material, "MaterialUse", lots.SAMPLE_USE)
    if ack is not None:
        _add(material, "TestSpecificationID", f"{ack.site}/{ack.specification}")
    return lots.finished(root)


# --- in ----------------------------------------------------------------------------------------


def from_b2mml(xml: bytes) -> list[Item]:
    """The inbound messages a valid B2MML document from the MES stands for, in order."""
    root = parse_xml(xml)
    name = etree.QName(root).localname
    problems = _problems(root)
    if problems:
        raise InvalidDocument(
            f"The {name} document breaks the B2MML V0701 schema in {len(problems)} place(s); "
            f"the first: {problems[0]}.",
            problems,
        )
    if name == "ProcessOperationsSchedule":
        requests = root.iterfind("b:DataArea/b:OperationsSchedule/b:OperationsRequest", _B)
        return [_sample_request(request) for request in requests]
    if name in ("ProcessTestResult", "SyncTestResult"):
        results = root.iterfind("b:DataArea/b:TestResult", _B)
        items = [item for result in results for item in _results(result, {})]
        if not items:
            where = _path(root, "DataArea", "TestResult", "PropertyMeasurement")
            raise _unmappable("The document measures no test; add a PropertyMeasurement.", where)
        return items
    raise InvalidDocument(
        f"labgate maps no {name} from the MES; send ProcessOperationsSchedule, "
        "ProcessTestResult or SyncTestResult.",
        [Problem(root.sourceline or 1, name, "expected a sample request or a test result.")],
        reason="b2mml.unexpected_root",
    )


def _sample_request(request: etree._Element) -> Item:
    materials = request.findall(".//b:MaterialRequirement", _B)
    samples = [m for m in materials if _text(m, "MaterialUse", None) in lots.SAMPLE_USES]
    if len(samples) != 1:
        where = samples[-1] if samples else next(iter(materials), None)
        raise _unmappable(
            f"OperationsRequest {_text(request, 'ID', None)} has {len(samples)} MaterialRequirement"
            f"(s) with MaterialUse {' / '.join(sorted(lots.SAMPLE_USES))}; labgate maps exactly "
            "one sample per OperationsRequest.",
            _path(request, "SegmentRequirement", "MaterialRequirement", "MaterialUse")
            if where is None
            else _path(where, "MaterialUse"),
        )
    [material] = samples
    segment = material.getparent()
    assert segment is not None  # a MaterialRequirement always sits in a SegmentRequirement
    _require_quality(segment)
    lot = material.find("b:MaterialLotID", _B)
    kind = "lot" if lot is not None and lot.get("schemeName") == "lot" else "batch"
    properties = material.iterfind("b:MaterialRequirementProperty", _B)
    found: dict[str, Found] = {
        "mes_request_id": (_text(request, "ID", None), _path(request, "ID")),
        "product": _one(material, "MaterialDefinitionID"),
        "sampled_at": _one(segment, "EarliestStartTime")
        if segment.find("b:EarliestStartTime", _B) is not None
        else _one(request, "StartTime"),
        kind: _one(material, "MaterialLotID"),
        "container": _one(material, "StorageLocation", "Location"),
        "characteristics": (
            [_text(p, "ID", None) for p in properties],
            _path(material, "MaterialRequirementProperty"),
        ),
    }
    for equipment in segment.iterfind("b:EquipmentRequirement", _B):
        use = _text(equipment, "EquipmentUse", None)
        member = "sampling_point" if use == lots.SAMPLING_POINT_USE else "equipment"
        if member in found:
            raise _unmappable(f"The sample's segment names a second {member}.", _path(equipment))
        found[member] = _one(equipment, "EquipmentID")
    return _checked("labgate.sample_request.v1", found, _path(request))


def _require_quality(segment: etree._Element) -> None:
    """The OperationsType nearest the segment (segment, request, schedule) must be Quality."""
    node: etree._Element | None = segment
    while node is not None and etree.QName(node).localname != "DataArea":
        stated = node.find("b:OperationsType", _B)
        if stated is not None and stated.text != lots.QUALITY:
            raise _unmappable(
                f"OperationsType {stated.text} is not a sample request; send the sample request "
                "as OperationsType Quality.",
                _path(stated),
            )
        if stated is not None:
            return
        node = node.getparent()
    where = _path(segment, "OperationsType")
    raise _unmappable("No OperationsType says Quality; a sample request must.", where)


def _results(result: etree._Element, inherited: Mapping[str, Found]) -> list[Item]:
    found = dict(inherited)
    for member, name in (("sample", "TestableObjectID"), ("status", "EvaluatedCriterionResult"),
                         ("approved_at", "EvaluationDate")):  # fmt: skip
        if result.find(f"b:{name}", _B) is not None or member not in found:
            found[member] = (_text(result, name, None), _path(result, name))
    by_id: dict[str, etree._Element] = {}
    for measurement in result.iterfind("b:PropertyMeasurement", _B):
        key = _text(measurement, "ID", None) or ""
        if key in by_id:  # the second would silently replace the first
            raise _unmappable(f"Two PropertyMeasurements are {key}.", _path(measurement, "ID"))
        by_id[key] = measurement
    items = [_result(result, code, found, by_id) for code in by_id if "/" not in code]
    for child in result.iterfind("b:TestResultChild", _B):
        items.extend(_results(child, found))
    return items


def _result(
    result: etree._Element, code: str, found: Mapping[str, Found], by_id: Mapping[str, Any]
) -> Item:
    def facet(member: str) -> Found:
        element = by_id.get(f"{code}/{member}")
        if element is None:
            return None, f"{_path(result)}/PropertyMeasurement[ID='{code}/{member}']"
        return _measured(element)[0]

    value, unit = _measured(by_id[code])
    stated = facet("lims_status")
    status = stated if stated[0] is not None else found["status"]
    members = {
        "sample": found["sample"],
        "test_code": (code, _path(by_id[code], "ID")),
        "value": value,
        "unit": unit,
        **{member: facet(member) for member in _RESULT_MEMBERS},
        "lims_status": status,
    }
    if status[0] == "approved":
        members["approved_at"] = found["approved_at"]
    return _checked("labgate.result.v1", members, _path(by_id[code]))


def _measured(measurement: etree._Element) -> tuple[Found, Found]:
    """A PropertyMeasurement's ValueString and UnitOfMeasure, each with its path."""
    element, path = measurement.find("b:Value", _B), _path(measurement, "Value")

    def read(name: str) -> Found:
        return None if element is None else _text(element, name, None), f"{path}/{name}"

    return read("ValueString"), read("UnitOfMeasure")


def _checked(schema_id: str, found: Mapping[str, Found], where: str) -> Item:
    """The payload, once parse_payload accepts it; a refusal names the element at fault."""
    for member, info in INBOUND[schema_id].model_fields.items():
        text, path = found.get(member, (None, where))
        if info.is_required() and text is None:
            raise _unmappable(f"{path} is missing; labgate needs it as the {member} of a "
                              f"{schema_id}. Add it and resend.", path)  # fmt: skip
    payload = {member: text for member, (text, _) in found.items() if text not in (None, [])}
    try:
        parse_payload(schema_id, payload)
    except InvalidInput as error:
        member = (error.field or "").partition(".")[2].partition(".")[0]
        path = found[member][1] if member in found else where
        raise _unmappable(f"{path} cannot be mapped: {error.message}", path) from error
    return schema_id, payload


def _one(parent: etree._Element, *names: str) -> Found:
    """The text of the only element at `names` below `parent` (None if absent); two refused."""
    hits = parent.findall("/".join(f"b:{name}" for name in names), _B)
    if len(hits) > 1:
        raise _unmappable(f"labgate maps one {names[-1]} here, not {len(hits)}.", _path(hits[1]))
    if not hits:
        return None, _path(parent, *names)
    owner = hits[0].getparent()
    assert owner is not None  # found below `parent`
    return _text(owner, names[-1], None), _path(hits[0])


def _path(element: etree._Element, *below: str) -> str:
    """`ProcessOperationsSchedule/DataArea/…/MaterialUse`, indexed where a name repeats; a long
    path keeps its end, which names the element."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        step, parent = etree.QName(node).localname, node.getparent()
        if parent is not None and len(same := parent.findall(str(node.tag))) > 1:
            step += f"[{same.index(node) + 1}]"
        steps.append(step)
        node = parent
    path = "/".join([*reversed(steps), *below])
    return path if len(path) <= FIELD_LENGTH else "…" + path[1 - FIELD_LENGTH :]


def _unmappable(message: str, path: str) -> InvalidInput:
    return InvalidInput(message, reason=UNMAPPABLE, field=path)
