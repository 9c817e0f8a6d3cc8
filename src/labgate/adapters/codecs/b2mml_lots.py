"""B2MML V0701 for lots: a lot's quality status, a lot-typed result, and the frame every document
labgate writes to the MES shares (b2mml_messages builds on it).

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.

Both documents use the Sync verb. In the OAGIS verbs B2MML follows (ISA-95 Part 5), Sync is the
owner of a record publishing a change so that receivers keep their copy in step, and expects no
reply; Process asks the receiver to act and expects an Acknowledge. labgate owns a lot's quality
disposition and the results behind it: it informs the MES, it asks nothing of it.

    SyncMaterialLot/DataArea/MaterialLot
        ID lot, HierarchyScope site, MaterialDefinitionID material, Status labgate's word,
        Disposition what the status means for use (quarantine, rejected: Restricted;
        released: UnRestricted), MaterialLotProperty  ID key, Value/ValueString text
    SyncOperationsPerformance/DataArea/OperationsPerformance   one lot-typed result
        ID result id, OperationsType Quality
        OperationsResponse  ID result id, OperationsRequestID the MES request, Completed
            SegmentResponse  ActualEndTime approved_at
                SegmentData       one per data-set member with no element of its own
                PersonnelActual   analyst, reviewer (PersonnelUse Analyst, Reviewer)
                EquipmentActual   the sampling point (EquipmentUse Sampling point)
                MaterialActual    MaterialLotID lot, MaterialSubLotID sample, Destructive Sample
                    MaterialActualProperty  ID test code, Value reported value and unit,
                        children conforms and result_status, MaterialLotPropertyID characteristic
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from lxml import etree

from labgate.adapters.codecs.b2mml import NS, RELEASE_ID, InvalidDocument, _add, _q, validate
from labgate.compliance.clock import iso_utc
from labgate.domain.errors import InvalidInput
from labgate.service.messages import MesResultV1

SENDER = "labgate"
QUALITY = "Quality"
# MaterialUseType (B2MML-Common.xsd) has no plain "Sample": its quality values are Destructive,
# Returned and Retained Sample. A lab sample is used up by its tests.
SAMPLE_USE = "Destructive Sample"
SAMPLE_USES = frozenset({"Destructive Sample", "Returned Sample", "Retained Sample"})
SAMPLING_POINT_USE = "Sampling point"  # EquipmentUseType is an open code list
DISPOSITIONS = {"quarantine": "Restricted", "rejected": "Restricted", "released": "UnRestricted"}

# Data-set members of a result that no V0701 element names, with their DataType and the member
# holding their unit. The writers put each one, when it is not null, under an ID of its own.
FACET_TYPES = {
    "method": "Identifier",
    "method_version": "Identifier",
    "raw_value": "string",
    "calculated_value": "decimal",
    "conversion_factor": "decimal",
    "rounding": "string",
    "limit_set": "string",
    "specification": "Identifier",
    "spec_version": "integer",
    "conforms": "boolean",
    "band": "Code",
    "lims_status": "Code",
    "supersedes": "Identifier",
    "batch": "Identifier",
    "lot": "Identifier",
    "sampling_point": "Identifier",
    "analyst": "Identifier",
    "reviewer": "Identifier",
}
FACET_UNITS = {"raw_value": "raw_unit", "calculated_value": "unit"}
Facet = tuple[str, str, str, str | None]  # member, text, DataType, unit


# --- the frame ---------------------------------------------------------------------------------


def document(
    root_name: str, verb: str, *, message_id: str, sent_at: datetime, action: str | None = None
) -> tuple[etree._Element, etree._Element]:
    """A root, its ApplicationArea (BODID = the message id) and the verb; returns the DataArea."""
    root = etree.Element(_q(root_name), nsmap={None: NS}, releaseID=RELEASE_ID)
    area = _add(root, "ApplicationArea")
    _add(_add(area, "Sender"), "LogicalID", SENDER)
    _add(area, "CreationDateTime", iso_utc(sent_at))
    _add(area, "BODID", message_id)
    data = _add(root, "DataArea")
    verb_element = _add(data, verb)
    if action is not None:  # TransActionCriteriaType: what the receiver does with the noun
        expression = _add(_add(verb_element, "ActionCriteria"), "ActionExpression")
        expression.set("actionCode", action)
    return root, data


def finished(root: etree._Element) -> bytes:
    """The document's bytes once it validates; a problem here is a bug in labgate's writer."""
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    problems = validate(xml)
    if problems:
        raise InvalidDocument(
            f"labgate wrote a {etree.QName(root).localname} document that breaks the B2MML V0701 "
            f"schema (first: {problems[0]}); this is a labgate bug, report it with the payload.",
            problems,
            reason="b2mml.writer_invalid",
        )
    return xml


def scope(parent: etree._Element, site: str) -> None:
    """HierarchyScope: the site, at level Site."""
    hierarchy = _add(parent, "HierarchyScope")
    _add(hierarchy, "EquipmentID", site)
    _add(hierarchy, "EquipmentLevel", "Site")


def value(parent: etree._Element, text: str, data_type: str, unit: str | None = None) -> None:
    """A ValueType: ValueString exactly as given, its DataType, its unit if it has one."""
    element = _add(parent, "Value")
    _add(element, "ValueString", text)
    _add(element, "DataType", data_type)
    if unit is not None:
        _add(element, "UnitOfMeasure", unit)


def keyed(parent: etree._Element, name: str, key: str, text: str, data_type: str,
          unit: str | None = None) -> etree._Element:  # fmt: skip
    """A child `name` with an ID and one Value: B2MML's shape for a named property."""
    child = _add(parent, name)
    _add(child, "ID", key)
    value(child, text, data_type, unit)
    return child


def facets(result: MesResultV1, members: Iterable[str]) -> list[Facet]:
    """The named members of a result that are not null, as text with DataType and unit."""
    found: list[Facet] = []
    for member in members:
        raw = getattr(result, member)
        if raw is None:
            continue
        text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
        unit_member = FACET_UNITS.get(member)
        unit = getattr(result, unit_member) if unit_member else None
        found.append((member, text, FACET_TYPES[member], unit))
    return found


def reported(result: MesResultV1) -> tuple[str, str]:
    """The value the MES acts on and its DataType: the reported number, or the text as written."""
    if result.reported_value is not None:
        return result.reported_value, "decimal"
    return result.raw_value, "string"


# --- material lots -----------------------------------------------------------------------------


def material_lot_document(
    lot: str,
    material: str,
    site: str,
    status: str,
    properties: Mapping[str, str],
    *,
    message_id: str,
    sent_at: datetime,
) -> bytes:
    """SyncMaterialLot: a lot's quality status for the MES, with its Disposition for use."""
    disposition = DISPOSITIONS.get(status)
    if disposition is None:
        raise InvalidInput(
            f"Lot status {status[:64]!r} has no B2MML disposition; send one of "
            f"{', '.join(sorted(DISPOSITIONS))}.",
            reason="b2mml.unknown_lot_status",
            field="status",
        )
    for field, text in (("lot", lot), ("material", material), ("site", site)):
        if not text.strip():
            raise InvalidInput(f"A material lot needs its {field}.", reason="b2mml.missing_key",
                               field=field)  # fmt: skip
    root, data = document(
        "SyncMaterialLot", "Sync", message_id=message_id, sent_at=sent_at, action="Change"
    )
    element = _add(data, "MaterialLot")
    _add(element, "ID", lot)
    _add(element, "Description", f"Lot {lot} of material {material}: {status}.")
    scope(element, site)
    _add(element, "MaterialDefinitionID", material)
    _add(element, "Status", status)
    _add(element, "Disposition", disposition)
    for key, text in properties.items():
        keyed(element, "MaterialLotProperty", key, text, "string")
    return finished(root)


# --- lot-typed results -------------------------------------------------------------------------

_SEGMENT_DATA = (
    "method", "method_version", "raw_value", "calculated_value", "conversion_factor", "rounding",
    "limit_set", "specification", "spec_version", "band", "lims_status", "supersedes",
)  # fmt: skip


def lot_result_document(result: MesResultV1, *, message_id: str, sent_at: datetime) -> bytes:
    """SyncOperationsPerformance for a result on a lot: the lot's MaterialActual carries it."""
    root, data = document(
        "SyncOperationsPerformance", "Sync", message_id=message_id, sent_at=sent_at, action="Add"
    )
    performance = _add(data, "OperationsPerformance")
    _add(performance, "ID", result.result_id)
    scope(performance, result.site)
    _add(performance, "OperationsType", QUALITY)
    response = _add(performance, "OperationsResponse")
    _add(response, "ID", result.result_id)
    _add(response, "OperationsType", QUALITY)
    if result.mes_request_id is not None:
        _add(response, "OperationsRequestID", result.mes_request_id)
    _add(response, "ResponseState", "Completed")
    segment = _add(response, "SegmentResponse")
    _add(segment, "ID", f"{result.result_id}/{result.test_code}")
    if result.approved_at is not None:
        _add(segment, "ActualEndTime", result.approved_at)
    _add(segment, "OperationsType", QUALITY)
    for member, text, data_type, unit in facets(result, _SEGMENT_DATA):
        keyed(segment, "SegmentData", member, text, data_type, unit)
    for role, person in (("Analyst", result.analyst), ("Reviewer", result.reviewer)):
        if person is not None:  # OpPersonnelActualType: ID, PersonID, PersonnelUse in order
            actual = _add(segment, "PersonnelActual")
            _add(actual, "ID", role.lower())
            _add(actual, "PersonID", person)
            _add(actual, "PersonnelUse", role)
    if result.sampling_point is not None:
        equipment = _add(segment, "EquipmentActual")
        _add(equipment, "ID", "sampling_point")
        _add(equipment, "EquipmentID", result.sampling_point)
        _add(equipment, "EquipmentUse", SAMPLING_POINT_USE)
    _material_actual(segment, result)
    return finished(root)


def _material_actual(segment: etree._Element, result: MesResultV1) -> None:
    # OpMaterialActualType (B2MML-OperationsPerformanceTypes.xsd): the sample is a sublot of the
    # lot it was drawn from; the result is a property of that lot.
    material = _add(segment, "MaterialActual")
    _add(material, "ID", result.sample_id)
    _add(material, "MaterialLotID", result.lot)
    _add(material, "MaterialSubLotID", result.sample_id)
    _add(material, "MaterialUse", SAMPLE_USE)
    prop = _add(material, "MaterialActualProperty")
    _add(prop, "ID", result.test_code)
    value(prop, *reported(result), result.unit)
    for member, text, data_type, unit in facets(result, ("conforms",)):
        keyed(prop, "MaterialActualPropertyChild", member, text, data_type, unit)
    keyed(prop, "MaterialActualPropertyChild", "result_status", result.result_status, "Code")
    if result.characteristic is not None:
        _add(prop, "MaterialLotPropertyID", result.characteristic)
