"""The simulated MES speaking B2MML V0701: its sample requests written as the
ProcessOperationsSchedule an MES sends (in a `labgate.b2mml.v1` envelope); labgate's documents to
it verified (detached JWS over the exact bytes, labgate's key), validated against the MESA XSDs
and read back into the payload the JSON envelope carries, so the journal reads the same either way:
ProcessTestResult / SyncTestResult (TestResult: PropertyMeasurement <test> with the value, and
"<test>/<member>" for the other members), SyncOperationsPerformance (a lot's result, on its
MaterialActual) and AcknowledgeOperationsSchedule (the planned tests as SegmentParameters).

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from lxml import etree
from pydantic import ValidationError

from labgate.adapters.codecs.b2mml import NS, RELEASE_ID, MalformedDocument, parse_xml, validate
from labgate.adapters.connectors.partner.identity import utc_text
from labgate.adapters.connectors.partner.receiving import ReceiverRules
from labgate.adapters.connectors.partner.webhook import XML, Received
from labgate.compliance.detached import verify_detached
from labgate.compliance.envelope import EnvelopeError
from labgate.compliance.keys import SourceKey
from labgate.service.messages import OUTBOUND

B2MML = "labgate.b2mml.v1"
MES_RESULT, RESULT_STATUS = "labgate.mes_result.v1", "labgate.result_status.v1"
ACKNOWLEDGEMENT = "labgate.sample_acknowledgement.v1"
QUALITY, SAMPLE_USE, SAMPLING_POINT = "Quality", "Destructive Sample", "Sampling point"
UNITS = {"raw_value": "raw_unit", "calculated_value": "unit"}  # facets whose unit is a member
_B = {"b": NS}
Payload = dict[str, Any]
Tree = list[tuple[str, Any]]  # (element, its text | its children | None)


# --- out: the sample request -------------------------------------------------------------------


def schedule(payload: Mapping[str, Any], *, site: str, sender: str, message_id: str,
             sent_at: datetime) -> str:  # fmt: skip
    """A sample_request payload (mes_request_id, product, sampled_at, batch and sampling point
    if any) as the ProcessOperationsSchedule an MES writes; valid, or raises."""
    point, product = payload.get("sampling_point"), payload["product"]
    segment: Tree = [
        ("ID", "QC-SAMPLING"), ("EarliestStartTime", payload["sampled_at"]),
        ("ProcessSegmentID", "QC-SAMPLING"), ("OperationsDefinitionID", f"OD-{product}"),
        ("OperationsSegmentID", "OS-QC-SAMPLING"),
        ("EquipmentRequirement", point and [("ID", "ER-SAMPLING-POINT"), ("EquipmentID", point),
                                            ("EquipmentUse", SAMPLING_POINT)]),
        ("MaterialRequirement", [
            ("ID", "MR-SAMPLE"), ("MaterialDefinitionID", product),
            ("MaterialLotID", payload.get("batch")), ("MaterialUse", SAMPLE_USE),
        ]),
    ]  # fmt: skip
    request = [("ID", payload["mes_request_id"]), ("OperationsType", QUALITY),
               ("SegmentRequirement", segment)]  # fmt: skip
    root = etree.Element(f"{{{NS}}}ProcessOperationsSchedule", nsmap={None: NS},
                         releaseID=RELEASE_ID)  # fmt: skip
    _build(root, [
        ("ApplicationArea", [("Sender", [("LogicalID", sender)]),
                             ("CreationDateTime", utc_text(sent_at)), ("BODID", message_id)]),
        ("DataArea", [("Process", []), ("OperationsSchedule", [
            ("ID", f"SCHED-{payload['mes_request_id']}"),
            ("HierarchyScope", [("EquipmentID", site), ("EquipmentLevel", "Site")]),
            ("OperationsType", QUALITY), ("OperationsRequest", request),
        ])]),
    ])  # fmt: skip
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    problems = validate(xml)
    if problems:
        raise AssertionError(f"The simulated MES wrote an invalid schedule ({problems[0]}); "
                             "this is a bug in labgate_sim.b2mml_side.")  # fmt: skip
    return xml.decode()


def _build(parent: etree._Element, tree: Tree) -> None:
    """Children in order: text, or a list of their own children; None leaves one out."""
    for name, content in tree:
        if content is None:
            continue
        child = etree.SubElement(parent, f"{{{NS}}}{name}")
        if isinstance(content, str):
            child.text = content
        else:
            _build(child, content)


# --- in: labgate's documents -------------------------------------------------------------------


def verify(body: bytes, token: str | None, key: SourceKey) -> None:
    """Raise EnvelopeError unless `token` is labgate's detached signature of exactly `body`:
    envelope.unknown_key when it names a key id other than labgate's."""
    if not token:
        raise _refused("The document came without X-Labgate-Signature; labgate signs every "
                       "document it sends.", "envelope.bad_signature")  # fmt: skip
    kid = _kid(token)
    if kid and kid != key.kid:  # no readable header: not a signature at all (below)
        raise EnvelopeError(f"The signature names key id {kid[:80]!r}; labgate signs with "
                            f"{key.kid!r}.", reason="envelope.unknown_key",
                            field="signature")  # fmt: skip
    verify_detached(body, token, key.public_jwk)  # a token by another key fails here too


def _kid(token: str) -> str:
    """The key id in a compact JWS's protected header ('' if it names none or is not one)."""
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    except (ValueError, UnicodeDecodeError):
        return ""
    return str(header.get("kid", "")) if isinstance(header, dict) else ""


def read_document(
    body: bytes,
    headers: Mapping[str, str],
    key: SourceKey,
    rules: ReceiverRules | None = None,
    received_at: datetime | None = None,
) -> Received:
    """A B2MML document from labgate, signed, valid, of the type X-Labgate-Schema names, as the
    payload of that type; EnvelopeError otherwise. With `rules`, its CreationDateTime must be
    within the replay window of `received_at` (the only time a document carries, and signed)."""
    headers = {name.lower(): value for name, value in headers.items()}
    try:
        verify(body, headers.get("x-labgate-signature"), key)
    except EnvelopeError as error:
        if rules is None or not rules.forgives(error):
            raise
    try:
        problems = validate(body)
    except MalformedDocument as error:
        raise _refused(error.message, error.reason) from None
    if problems and not (rules is not None and rules.drift_allowed):
        raise _refused(f"The document breaks B2MML V0701 in {len(problems)} place(s); the "
                       f"first: {problems[0]}.", "b2mml.invalid")  # fmt: skip
    root = parse_xml(body)
    if rules is not None and received_at is not None:
        rules.check_time(_created(root), received_at, "CreationDateTime")
    name, schema = etree.QName(root).localname, headers.get("x-labgate-schema", "")
    if name not in READERS or READERS[name][0] != schema:
        raise _refused(f"A {name} document does not carry {schema[:80] or 'an unnamed schema'}.",
                       "b2mml.unexpected_root")  # fmt: skip
    message_id = root.findtext("b:ApplicationArea/b:BODID", namespaces=_B) or ""
    if headers.get("idempotency-key", message_id) != message_id:
        raise _refused("Idempotency-Key differs from the document's BODID.", "b2mml.id_mismatch")
    data = root.find("b:DataArea", _B)
    assert data is not None  # the schema requires it
    try:
        payload = complete(schema, READERS[name][1](data))
    except (ValueError, KeyError) as error:
        raise _refused(f"The {name} document cannot be read as {schema}: {error}",
                       "b2mml.unreadable") from None  # fmt: skip
    sequence = headers.get("x-labgate-sequence", "")
    return Received(schema, message_id, headers.get("x-labgate-stream"),
                    int(sequence) if sequence.isdigit() else None,
                    headers.get("x-labgate-correlation-id"), payload, XML, name,
                    verified="X-Labgate-Signature", validated=f"B2MML {RELEASE_ID}")  # fmt: skip


def _created(root: etree._Element) -> datetime:
    text = root.findtext("b:ApplicationArea/b:CreationDateTime", namespaces=_B) or ""
    try:
        created = datetime.fromisoformat(text)
    except ValueError:
        raise _refused(f"CreationDateTime {text[:40]!r} is not a date and time.",
                       "b2mml.invalid") from None  # fmt: skip
    if created.tzinfo is None:
        raise _refused("CreationDateTime names no time zone.", "b2mml.invalid")
    return created


def complete(schema: str, found: Payload) -> Payload:
    """Every member of the schema's payload (null where the document leaves it out), checked."""
    model = OUTBOUND[schema]
    payload = {**dict.fromkeys(model.model_fields), **found}
    try:
        model.model_validate(payload)  # a member the payload has not is refused, too
    except ValidationError as error:
        first = error.errors()[0]
        raise ValueError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}.") from None
    return payload


def _test_result(data: etree._Element) -> Payload:
    result = _find(data, "TestResult")
    found = _texts(result, site="HierarchyScope/EquipmentID", sample_id="TestableObjectID",
                   mes_request_id="OperationsTestRequirementID", result_id="ID",
                   approved_at="EvaluationDate",
                   result_status="EvaluatedCriterionResult")  # fmt: skip
    for measurement in result.iterfind("b:PropertyMeasurement", _B):
        member = _text(measurement, "ID").partition("/")[2]
        if member:
            _facet(found, member, measurement)
            continue
        found |= _texts(measurement, test_code="ID", method="WorkDefinitionID",
                        characteristic="TestableObjectPropertyID")  # fmt: skip
        _measured(found, measurement)
    return found


def _lot_result(data: etree._Element) -> Payload:
    performance = _find(data, "OperationsPerformance")
    segment = _find(performance, "OperationsResponse/SegmentResponse")
    prop = _find(segment, "MaterialActual/MaterialActualProperty")
    found = {
        **_texts(performance, site="HierarchyScope/EquipmentID", result_id="ID",
                 mes_request_id="OperationsResponse/OperationsRequestID"),
        **_texts(segment, approved_at="ActualEndTime", lot="MaterialActual/MaterialLotID",
                 sample_id="MaterialActual/MaterialSubLotID"),
        **_texts(prop, test_code="ID", characteristic="MaterialLotPropertyID"),
    }  # fmt: skip
    for element in [*segment.iterfind("b:SegmentData", _B),
                    *prop.iterfind("b:MaterialActualPropertyChild", _B)]:  # fmt: skip
        _facet(found, _text(element, "ID"), element)
    for person in segment.iterfind("b:PersonnelActual", _B):
        found[_text(person, "PersonnelUse").lower()] = _text(person, "PersonID")
    for equipment in segment.iterfind("b:EquipmentActual", _B):
        if _text(equipment, "EquipmentUse") == SAMPLING_POINT:
            found["sampling_point"] = _text(equipment, "EquipmentID")
    _measured(found, prop)
    return found


def _acknowledgement(data: etree._Element) -> Payload:
    operations = _find(data, "OperationsSchedule")
    segment = _find(operations, "OperationsRequest/SegmentRequirement")
    material = _find(segment, "MaterialRequirement")
    sample, site = _text(operations, "ID"), _text(operations, "HierarchyScope/EquipmentID")
    tests = []
    for parameter in segment.iterfind("b:SegmentParameter", _B):
        test: Payload = {"test_code": _text(parameter, "ID"), "characteristic": None}
        for child in parameter.iterfind("b:ParameterChild", _B):
            _facet(test, _text(child, "ID"), child)
        tests.append(test)
    lims = material.find("b:MaterialSubLotID[@schemeAgencyID='lims']", _B)
    request_id = _text(operations, "OperationsRequest/ID")  # the sample's, if the MES gave none
    return {
        "site": site,
        "sample_id": sample,
        "mes_request_id": None if request_id == sample else request_id,
        "lims_sample_id": None if lims is None else lims.text,
        "tests": tests,
        "specification": _text(material, "TestSpecificationID").removeprefix(f"{site}/"),
    }


def _lot_status(data: etree._Element) -> Payload:
    lot = _find(data, "MaterialLot")
    found = _texts(lot, site="HierarchyScope/EquipmentID", lot="ID",
                   material="MaterialDefinitionID", status="Status")  # fmt: skip
    for prop in lot.iterfind("b:MaterialLotProperty", _B):
        found[_text(prop, "ID")] = _text(prop, "Value/ValueString")
    found["full_panel"] = {"true": True, "false": False}[found.get("full_panel", "")]
    return found


READERS: dict[str, tuple[str, Callable[[etree._Element], Payload]]] = {
    "ProcessTestResult": (MES_RESULT, _test_result),
    "SyncTestResult": (RESULT_STATUS, _test_result),
    "SyncOperationsPerformance": (MES_RESULT, _lot_result),
    "AcknowledgeOperationsSchedule": (ACKNOWLEDGEMENT, _acknowledgement),
    "SyncMaterialLot": ("labgate.lot_status.v1", _lot_status),
}


def _measured(found: Payload, element: etree._Element) -> None:
    """The measured value: the reported number and its unit, or a text result as written."""
    if element.find("b:Value", _B) is None:  # a preliminary result's status carries none
        return
    value, unit = _value(element)
    decimal = _text(element, "Value/DataType") == "decimal"
    found |= {"reported_value" if decimal else "raw_value": value, "unit": unit}


def _facet(found: Payload, member: str, element: etree._Element) -> None:
    """A member labgate writes under an ID of its own, typed as the JSON payload types it."""
    value, unit = _value(element)
    found[member] = value
    if member in UNITS:
        found[UNITS[member]] = unit


def _value(element: etree._Element) -> tuple[Any, str | None]:
    text, kind = _text(element, "Value/ValueString"), _text(element, "Value/DataType")
    unit = element.findtext("b:Value/b:UnitOfMeasure", namespaces=_B)
    if kind == "integer":
        return int(text), unit
    if kind == "boolean":
        return {"true": True, "false": False}[text], unit  # KeyError: not a boolean
    return text, unit


def _find(parent: etree._Element, path: str) -> etree._Element:
    found = parent.find(_steps(path), _B)
    if found is None:
        raise ValueError(f"{etree.QName(parent).localname} has no {path}.")
    return found


def _text(parent: etree._Element, path: str) -> str:
    return _find(parent, path).text or ""


def _texts(parent: etree._Element, **paths: str) -> Payload:
    """The text at each path that is present, by member name."""
    found = {member: parent.findtext(_steps(path), namespaces=_B) for member, path in paths.items()}
    return {member: text for member, text in found.items() if text is not None}


def _steps(path: str) -> str:
    return "/".join(f"b:{step}" for step in path.split("/"))


def _refused(message: str, reason: str) -> EnvelopeError:
    return EnvelopeError(message, reason=reason, field="body")
