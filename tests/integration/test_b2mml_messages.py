"""labgate's messages as B2MML V0701, against the real MESA XSDs (../shared/b2mml/Schema or
LABGATE_B2MML_SCHEMAS): every document written validates and carries the payload's values; the
documents an MES writes map to inbound payloads that parse_payload accepts; hostile, invalid and
unmappable documents are refused with a reason code and the element at fault.

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree

from labgate.adapters.codecs.b2mml import (
    NS,
    InvalidDocument,
    MalformedDocument,
    _add,
    _q,
    parse_xml,
    validate,
)
from labgate.adapters.codecs.b2mml_lots import finished
from labgate.adapters.codecs.b2mml_messages import (
    UnsupportedMessage,
    from_b2mml,
    material_lot_document,
    to_b2mml,
)
from labgate.domain.errors import InvalidInput
from labgate.service.messages import OUTBOUND, parse_payload

B = {"b": NS}
SENT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MESSAGE_ID = "0193b7a2-0000-7000-8000-000000000001"


def outbound(schema_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A hand-built payload, checked by the model the outbox writes against."""
    OUTBOUND[schema_id].model_validate(payload)
    return payload


def mes_result(**changes: Any) -> dict[str, Any]:
    payload = {
        "site": "T1", "sample_id": "S-000123", "mes_request_id": "REQ-77", "batch": "B-2026-001",
        "lot": None, "sampling_point": "SP-GRAN-01", "characteristic": "assay",
        "result_id": "R-000456", "test_code": "ASSAY", "method": "M-ASSAY", "method_version": "2",
        "analyst": "ana", "reviewer": "rev", "approved_at": "2026-11-25T09:00:00.000000Z",
        "raw_value": "985", "raw_unit": "mg/g", "unit": "%", "conversion_factor": "0.1",
        "calculated_value": "98.5", "reported_value": "98.5", "rounding": "1 decimal place",
        "limit_set": "SPEC-A v3: 98.0 - 102.0", "specification": "SPEC-A", "spec_version": 3,
        "conforms": True, "band": "none", "lims_status": "approved",
        "result_status": "Accepted", "supersedes": None,
    }  # fmt: skip
    return outbound("labgate.mes_result.v1", {**payload, **changes})


LOT_RESULT = {"batch": None, "lot": "L-RM-0042", "sampling_point": None, "mes_request_id": None}
TEXT_RESULT = {
    "test_code": "APPEAR", "method": "M-VIS", "method_version": "1", "characteristic": None,
    "raw_value": "White tablet", "raw_unit": None, "unit": None, "conversion_factor": None,
    "calculated_value": None, "reported_value": None, "rounding": "text, as written",
    "limit_set": "SPEC-A v3: CONFORMS: White tablet", "band": None,
}  # fmt: skip
TESTS = [
    {"test_code": "ASSAY", "method": "M-ASSAY", "method_version": "2"},
    {"test_code": "WATER", "method": "M-KF", "method_version": "1"},
]
HEADER = {"site": "T1", "sample_id": "S-000123", "mes_request_id": "REQ-77"}


def write(schema_id: str, payload: dict[str, Any]) -> etree._Element:
    """The document for a payload: it must validate against the XSDs before anything else."""
    xml = to_b2mml(schema_id, payload, message_id=MESSAGE_ID, sent_at=SENT)
    assert validate(xml) == []
    return parse_xml(xml)


def texts(root: etree._Element, path: str) -> list[str]:
    return [str(found) for found in root.xpath(path, namespaces=B)]


def facet(root: etree._Element, key: str) -> list[str]:
    return texts(root, f"//b:PropertyMeasurement[b:ID='{key}']/b:Value/b:ValueString/text()")


# --- out: results ------------------------------------------------------------------------------


def test_an_approved_result_is_a_process_test_result_carrying_the_minimum_data_set() -> None:
    root = write("labgate.mes_result.v1", mes_result())
    result = "/b:ProcessTestResult/b:DataArea/b:TestResult"
    assert texts(root, "/b:ProcessTestResult/b:ApplicationArea/b:BODID/text()") == [MESSAGE_ID]
    assert texts(root, "//b:CreationDateTime/text()") == ["2026-11-25T10:00:00.000000Z"]
    assert texts(root, f"{result}/b:ID/text()") == ["R-000456"]
    assert texts(root, f"{result}/b:TestableObjectID/text()") == ["S-000123"]
    assert texts(root, f"{result}/b:OperationsTestRequirementID/text()") == ["REQ-77"]
    assert texts(root, f"{result}/b:EvaluatedCriterionResult/text()") == ["Accepted"]
    assert texts(root, f"{result}/b:EvaluationDate/text()") == ["2026-11-25T09:00:00.000000Z"]
    measured = f"{result}/b:PropertyMeasurement[b:ID='ASSAY']"
    assert texts(root, f"{measured}/b:Value/b:ValueString/text()") == ["98.5"]
    assert texts(root, f"{measured}/b:Value/b:UnitOfMeasure/text()") == ["%"]
    assert texts(root, f"{measured}/b:Value/b:DataType/text()") == ["decimal"]
    assert texts(root, f"{measured}/b:TestableObjectPropertyID/text()") == ["assay"]
    assert texts(root, f"{measured}/b:WorkDefinitionID/text()") == ["M-ASSAY"]
    assert facet(root, "ASSAY/spec_version") == ["3"]
    assert facet(root, "ASSAY/specification") == ["SPEC-A"]
    assert facet(root, "ASSAY/method_version") == ["2"]
    assert facet(root, "ASSAY/raw_value") == ["985"]
    assert texts(root, "//b:PropertyMeasurement[b:ID='ASSAY/raw_value']//b:UnitOfMeasure/text()")\
        == ["mg/g"]  # fmt: skip
    assert (facet(root, "ASSAY/analyst"), facet(root, "ASSAY/reviewer")) == (["ana"], ["rev"])
    assert (facet(root, "ASSAY/conforms"), facet(root, "ASSAY/batch")) == (["true"], ["B-2026-001"])
    assert facet(root, "ASSAY/supersedes") == []  # null members are left out


@pytest.mark.parametrize(
    "changes",
    [
        {},
        TEXT_RESULT,
        {"mes_request_id": None, "characteristic": None, "sampling_point": None},
        {"conforms": False, "band": "action", "result_status": "Rejected", "supersedes": "R-1"},
        {"batch": None, "lot": None},
        {"batch": "B-1", "lot": "L-1"},  # both set: not lot-typed, a ProcessTestResult
        {"limit_set": "SPEC-A v3: <5 & >1 \"quoted\" 'ü'", "raw_value": "1.0E-3"},
        LOT_RESULT,
        {**LOT_RESULT, **TEXT_RESULT, "reviewer": "r2", "conforms": None},
    ],
)
def test_every_valid_result_payload_writes_a_valid_document(changes: dict[str, Any]) -> None:
    write("labgate.mes_result.v1", mes_result(**changes))  # write() asserts validate() == []


def test_a_text_result_reports_its_text_as_a_string_without_unit() -> None:
    root = write("labgate.mes_result.v1", mes_result(**TEXT_RESULT))
    value = "//b:PropertyMeasurement[b:ID='APPEAR']/b:Value"
    assert texts(root, f"{value}/b:ValueString/text()") == ["White tablet"]
    assert texts(root, f"{value}/b:DataType/text()") == ["string"]
    assert texts(root, f"{value}/b:UnitOfMeasure") == []


def test_a_lot_typed_result_is_sync_operations_performance_with_a_material_actual() -> None:
    root = write("labgate.mes_result.v1", mes_result(**LOT_RESULT))
    assert etree.QName(root).localname == "SyncOperationsPerformance"
    performance = "/b:SyncOperationsPerformance/b:DataArea/b:OperationsPerformance"
    assert texts(root, f"{performance}/b:OperationsType/text()") == ["Quality"]
    segment = f"{performance}/b:OperationsResponse/b:SegmentResponse"
    material = f"{segment}/b:MaterialActual"
    assert texts(root, f"{material}/b:MaterialLotID/text()") == ["L-RM-0042"]
    assert texts(root, f"{material}/b:MaterialSubLotID/text()") == ["S-000123"]
    prop = f"{material}/b:MaterialActualProperty[b:ID='ASSAY']"
    assert texts(root, f"{prop}/b:Value/b:ValueString/text()") == ["98.5"]
    assert texts(root, f"{prop}/b:Value/b:UnitOfMeasure/text()") == ["%"]
    child = f"{prop}/b:MaterialActualPropertyChild[b:ID='%s']/b:Value/b:ValueString/text()"
    assert texts(root, child % "conforms") == ["true"]
    assert texts(root, child % "result_status") == ["Accepted"]
    assert texts(root, f"{prop}/b:MaterialLotPropertyID/text()") == ["assay"]
    people = {p.findtext("b:PersonnelUse", namespaces=B): p.findtext("b:PersonID", namespaces=B)
              for p in root.iterfind(".//b:PersonnelActual", B)}  # fmt: skip
    assert people == {"Analyst": "ana", "Reviewer": "rev"}
    data = f"{segment}/b:SegmentData[b:ID='%s']/b:Value/b:ValueString/text()"
    assert (texts(root, data % "spec_version"), texts(root, data % "specification")) == (
        ["3"], ["SPEC-A"]
    )  # fmt: skip
    assert texts(root, f"{segment}/b:ActualEndTime/text()") == ["2026-11-25T09:00:00.000000Z"]


def test_a_preliminary_result_status_is_a_sync_test_result_without_a_value() -> None:
    payload = {**HEADER, "result_id": "R-9", "test_code": "ASSAY", "lims_status": "preliminary",
               "result_status": "Pending"}  # fmt: skip
    root = write("labgate.result_status.v1", outbound("labgate.result_status.v1", payload))
    assert etree.QName(root).localname == "SyncTestResult"
    assert texts(root, "//b:TestResult/b:EvaluatedCriterionResult/text()") == ["Pending"]
    assert texts(root, "//b:PropertyMeasurement[b:ID='ASSAY']/b:Value") == []
    assert facet(root, "ASSAY/lims_status") == ["preliminary"]


# --- out: sample requests and acknowledgements -------------------------------------------------


def test_a_lims_sample_request_is_a_quality_operations_schedule_with_a_sample() -> None:
    payload = outbound("labgate.lims_sample_request.v1", {**HEADER, "tests": TESTS})
    root = write("labgate.lims_sample_request.v1", payload)
    schedule = "/b:ProcessOperationsSchedule/b:DataArea/b:OperationsSchedule"
    assert texts(root, f"{schedule}/b:OperationsType/text()") == ["Quality"]
    assert texts(root, f"{schedule}/b:OperationsRequest/b:ID/text()") == ["REQ-77"]
    segment = f"{schedule}/b:OperationsRequest/b:SegmentRequirement"
    material = f"{segment}/b:MaterialRequirement"
    assert texts(root, f"{material}/b:MaterialUse/text()") == ["Destructive Sample"]
    assert texts(root, f"{material}/b:MaterialSubLotID/text()") == ["S-000123"]
    assert texts(root, f"{segment}/b:SegmentParameter/b:ID/text()") == ["ASSAY", "WATER"]
    child = f"{segment}/b:SegmentParameter[b:ID='WATER']/b:ParameterChild[b:ID='%s']"
    assert texts(root, f"{child % 'method'}/b:Value/b:ValueString/text()") == ["M-KF"]
    assert texts(root, f"{child % 'method_version'}/b:Value/b:ValueString/text()") == ["1"]


@pytest.mark.requirement("URS-TX-002")
def test_a_sample_acknowledgement_names_the_lims_id_and_the_bound_specification() -> None:
    tests = [{**TESTS[0], "characteristic": "assay"}, {**TESTS[1], "characteristic": None}]
    payload = {**HEADER, "mes_request_id": None, "lims_sample_id": "LIMS-9", "tests": tests,
               "specification": "SPEC-A v3"}  # fmt: skip
    schema = "labgate.sample_acknowledgement.v1"
    root = write(schema, outbound(schema, payload))
    assert etree.QName(root).localname == "AcknowledgeOperationsSchedule"
    assert texts(root, "//b:Acknowledge//b:ResponseExpression/@actionCode") == ["Accepted"]
    assert texts(root, "//b:OperationsRequest/b:ID/text()") == ["S-000123"]  # no MES request
    material = "//b:MaterialRequirement"
    assert texts(root, f"{material}/b:MaterialSubLotID[@schemeAgencyID='lims']/text()") == [
        "LIMS-9"
    ]
    assert texts(root, f"{material}/b:TestSpecificationID/text()") == ["T1/SPEC-A v3"]
    assert texts(root, "//b:ParameterChild[b:ID='characteristic']//b:ValueString/text()") == [
        "assay"
    ]


# --- out: material lots ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "disposition"),
    [("quarantine", "Restricted"), ("released", "UnRestricted"), ("rejected", "Restricted")],
)
def test_a_lot_status_is_a_sync_material_lot(status: str, disposition: str) -> None:
    xml = material_lot_document("L-RM-0042", "RM-LACTOSE", "T1", status,
                                {"supplier": "ACME", "expiry": "2027-06-30"},
                                message_id=MESSAGE_ID, sent_at=SENT)  # fmt: skip
    assert validate(xml) == []
    root = parse_xml(xml)
    lot = "/b:SyncMaterialLot/b:DataArea/b:MaterialLot"
    assert texts(root, f"{lot}/b:ID/text()") == ["L-RM-0042"]
    assert texts(root, f"{lot}/b:MaterialDefinitionID/text()") == ["RM-LACTOSE"]
    assert (texts(root, f"{lot}/b:Status/text()"), texts(root, f"{lot}/b:Disposition/text()")) == (
        [status], [disposition]
    )  # fmt: skip
    assert texts(root, f"{lot}/b:MaterialLotProperty/b:ID/text()") == ["supplier", "expiry"]
    assert texts(root, "//b:Sync/b:ActionCriteria/b:ActionExpression/@actionCode") == ["Change"]


def test_an_unknown_lot_status_or_an_empty_key_is_refused() -> None:
    with pytest.raises(InvalidInput) as unknown:
        material_lot_document("L1", "M1", "T1", "approved", {}, message_id="m", sent_at=SENT)
    assert (unknown.value.reason, unknown.value.field) == ("b2mml.unknown_lot_status", "status")
    with pytest.raises(InvalidInput) as empty:
        material_lot_document(" ", "M1", "T1", "released", {}, message_id="m", sent_at=SENT)
    assert empty.value.field == "lot"


# --- out: refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema_id", ["labgate.result_invalidated.v1", "labgate.sample_request.v1", "nonsense"]
)
def test_a_message_without_a_b2mml_mapping_is_refused(schema_id: str) -> None:
    with pytest.raises(UnsupportedMessage) as refused:
        to_b2mml(schema_id, {}, message_id=MESSAGE_ID, sent_at=SENT)
    assert (refused.value.reason, refused.value.field) == ("b2mml.unsupported_message", "schema")


def test_a_payload_that_drifted_from_its_schema_is_refused_before_writing() -> None:
    payload = {**mes_result(), "spec_version": "3"}
    with pytest.raises(InvalidInput) as refused:
        to_b2mml("labgate.mes_result.v1", payload, message_id=MESSAGE_ID, sent_at=SENT)
    assert (refused.value.reason, refused.value.field) == (
        "b2mml.invalid_payload", "payload.spec_version"
    )  # fmt: skip


def test_a_document_the_writer_got_wrong_never_leaves_labgate() -> None:
    root = etree.Element(_q("SyncMaterialLot"), nsmap={None: NS}, releaseID="V0701")
    _add(root, "ApplicationArea")  # no CreationDateTime, no DataArea
    with pytest.raises(InvalidDocument) as refused:
        finished(root)
    assert refused.value.reason == "b2mml.writer_invalid" and refused.value.problems


# --- in: sample requests from the MES ----------------------------------------------------------


def schedule(
    request: str = "",
    *,
    operations_type: str = "Quality",
    use: str = "Destructive Sample",
    lot: str = "<MaterialLotID>B-2026-001</MaterialLotID>",
) -> bytes:
    """A ProcessOperationsSchedule as an MES writes it: one sample requested from a batch step."""
    first = f"""
      <OperationsRequest>
        <ID>REQ-77</ID>
        <StartTime>2026-11-25T08:00:00Z</StartTime>
        <OperationsType>{operations_type}</OperationsType>
        <SegmentRequirement>
          <ID>GRAN-IPC</ID>
          <EarliestStartTime>2026-11-25T08:15:00+01:00</EarliestStartTime>
          <ProcessSegmentID>GRANULATION</ProcessSegmentID>
          <OperationsDefinitionID>OD-TAB-100</OperationsDefinitionID>
          <OperationsSegmentID>OS-GRAN</OperationsSegmentID>
          <EquipmentRequirement>
            <ID>ER-1</ID><EquipmentID>GRAN-01</EquipmentID><EquipmentUse>Granulator</EquipmentUse>
          </EquipmentRequirement>
          <EquipmentRequirement>
            <ID>ER-2</ID><EquipmentID>SP-GRAN-01</EquipmentID>
            <EquipmentUse>Sampling point</EquipmentUse>
          </EquipmentRequirement>
          <MaterialRequirement>
            <ID>MR-IN</ID><MaterialDefinitionID>API-X</MaterialDefinitionID>
            <MaterialUse>Consumed</MaterialUse>
          </MaterialRequirement>
          <MaterialRequirement>
            <ID>MR-SAMPLE</ID>
            <MaterialDefinitionID>TAB-100</MaterialDefinitionID>
            {lot}
            <MaterialUse>{use}</MaterialUse>
            <StorageLocation><Location>BOTTLE-250</Location>
              <LocationType>Physical Asset</LocationType></StorageLocation>
            <MaterialRequirementProperty><ID>assay</ID></MaterialRequirementProperty>
            <MaterialRequirementProperty><ID>water</ID></MaterialRequirementProperty>
          </MaterialRequirement>
        </SegmentRequirement>
      </OperationsRequest>"""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ProcessOperationsSchedule xmlns="{NS}" releaseID="V0701">
  <ApplicationArea>
    <Sender><LogicalID>MES-PASX</LogicalID></Sender>
    <CreationDateTime>2026-11-25T08:00:01Z</CreationDateTime>
    <BODID>MES-BOD-1</BODID>
  </ApplicationArea>
  <DataArea>
    <Process/>
    <OperationsSchedule>
      <ID>SCHED-1</ID>
      <OperationsType>Quality</OperationsType>{first}{request}
    </OperationsSchedule>
  </DataArea>
</ProcessOperationsSchedule>""".encode()


SECOND_REQUEST = """
      <OperationsRequest>
        <ID>REQ-78</ID>
        <StartTime>2026-11-25T09:00:00Z</StartTime>
        <SegmentRequirement>
          <ID>RM-IN</ID><ProcessSegmentID>RECEIVING</ProcessSegmentID>
          <OperationsDefinitionID>OD-RM</OperationsDefinitionID>
          <OperationsSegmentID>OS-RM</OperationsSegmentID>
          <MaterialRequirement>
            <ID>MR-RM</ID><MaterialDefinitionID>RM-LACTOSE</MaterialDefinitionID>
            <MaterialLotID schemeName="lot">L-RM-0042</MaterialLotID>
            <MaterialUse>Retained Sample</MaterialUse>
          </MaterialRequirement>
        </SegmentRequirement>
      </OperationsRequest>"""


def test_an_mes_sample_request_maps_to_sample_request_payloads() -> None:
    xml = schedule(SECOND_REQUEST)
    assert validate(xml) == []
    items = from_b2mml(xml)
    assert items == [
        ("labgate.sample_request.v1", {
            "mes_request_id": "REQ-77", "product": "TAB-100",
            "sampled_at": "2026-11-25T08:15:00+01:00", "batch": "B-2026-001",
            "container": "BOTTLE-250", "characteristics": ["assay", "water"],
            "equipment": "GRAN-01", "sampling_point": "SP-GRAN-01",
        }),
        ("labgate.sample_request.v1", {
            "mes_request_id": "REQ-78", "product": "RM-LACTOSE",
            "sampled_at": "2026-11-25T09:00:00Z", "lot": "L-RM-0042",
        }),
    ]  # fmt: skip
    for schema_id, payload in items:
        parse_payload(schema_id, payload)


# --- in: test results from the MES -------------------------------------------------------------

MES_RESULT = f"""<?xml version="1.0" encoding="UTF-8"?>
<SyncTestResult xmlns="{NS}" releaseID="V0701">
  <ApplicationArea><CreationDateTime>2026-11-25T10:00:00Z</CreationDateTime></ApplicationArea>
  <DataArea>
    <Sync/>
    <TestResult>
      <ID>IPC-7</ID>
      <EvaluationDate>2026-11-25T09:55:00Z</EvaluationDate>
      <TestableObjectID>S-000123</TestableObjectID>
      <EvaluatedCriterionResult>approved</EvaluatedCriterionResult>
      <TestResultChild>
        <ID>IPC-7.1</ID>
        <EvaluatedCriterionResult>preliminary</EvaluatedCriterionResult>
        <PropertyMeasurement><ID>LOD</ID>
          <Value><ValueString>1.20</ValueString><UnitOfMeasure>%</UnitOfMeasure></Value>
        </PropertyMeasurement>
        <PropertyMeasurement><ID>LOD/method_version</ID>
          <Value><ValueString>3</ValueString></Value></PropertyMeasurement>
        <PropertyMeasurement><ID>LOD/analyst</ID>
          <Value><ValueString>op7</ValueString></Value></PropertyMeasurement>
      </TestResultChild>
      <PropertyMeasurement><ID>PH</ID>
        <Value><ValueString>6.80</ValueString><UnitOfMeasure>pH</UnitOfMeasure></Value>
      </PropertyMeasurement>
      <PropertyMeasurement><ID>PH/method_version</ID>
        <Value><ValueString>1</ValueString></Value></PropertyMeasurement>
      <PropertyMeasurement><ID>PH/analyst</ID>
        <Value><ValueString>op7</ValueString></Value></PropertyMeasurement>
      <PropertyMeasurement><ID>PH/reviewer</ID>
        <Value><ValueString>sup3</ValueString></Value></PropertyMeasurement>
    </TestResult>
  </DataArea>
</SyncTestResult>"""


def test_an_mes_test_result_maps_to_result_payloads_children_inheriting() -> None:
    items = from_b2mml(MES_RESULT.encode())
    assert items == [
        ("labgate.result.v1", {
            "sample": "S-000123", "test_code": "PH", "value": "6.80", "unit": "pH",
            "method_version": "1", "analyst": "op7", "reviewer": "sup3",
            "lims_status": "approved", "approved_at": "2026-11-25T09:55:00Z",
        }),
        ("labgate.result.v1", {
            "sample": "S-000123", "test_code": "LOD", "value": "1.20", "unit": "%",
            "method_version": "3", "analyst": "op7", "lims_status": "preliminary",
        }),
    ]  # fmt: skip
    for schema_id, payload in items:
        parse_payload(schema_id, payload)


def test_the_facets_labgate_writes_are_the_ones_it_reads() -> None:
    xml = to_b2mml("labgate.mes_result.v1", mes_result(), message_id=MESSAGE_ID, sent_at=SENT)
    [(schema_id, payload)] = from_b2mml(xml)
    assert (schema_id, payload["value"], payload["unit"]) == ("labgate.result.v1", "98.5", "%")
    assert (payload["analyst"], payload["reviewer"], payload["method_version"]) == (
        "ana", "rev", "2"
    )  # fmt: skip
    assert payload["approved_at"] == "2026-11-25T09:00:00.000000Z"


# --- in: refusals ------------------------------------------------------------------------------


def test_an_invalid_document_is_refused_with_line_and_element() -> None:
    xml = schedule().replace(b"<ProcessSegmentID>GRANULATION</ProcessSegmentID>", b"")
    with pytest.raises(InvalidDocument) as refused:
        from_b2mml(xml)
    [problem] = refused.value.problems
    lines = xml.decode().splitlines()
    expected_line = next(n for n, line in enumerate(lines, 1) if "<OperationsDefinitionID>" in line)
    assert refused.value.reason == "b2mml.invalid"
    assert (problem.line, problem.element) == (expected_line, "OperationsDefinitionID")
    assert "ProcessSegmentID" in problem.rule


@pytest.mark.parametrize(
    "xml",
    [
        f'<!DOCTYPE x [<!ENTITY a "{"b" * 10}">]><ProcessTestResult xmlns="{NS}">&a;'
        "</ProcessTestResult>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY l0 "lol">'
        + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        + f']><ProcessOperationsSchedule xmlns="{NS}">&l9;</ProcessOperationsSchedule>',
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    ],
)
def test_a_doctype_or_an_entity_bomb_is_refused_unexpanded(xml: str) -> None:
    with pytest.raises(MalformedDocument) as refused:
        from_b2mml(xml.encode())
    assert refused.value.reason == "b2mml.doctype_forbidden"


def test_a_valid_document_of_another_kind_is_not_mapped() -> None:
    lot = material_lot_document("L1", "M1", "T1", "released", {}, message_id="m", sent_at=SENT)
    with pytest.raises(InvalidDocument) as refused:
        from_b2mml(lot)
    assert refused.value.reason == "b2mml.unexpected_root"


@pytest.mark.parametrize(
    ("xml", "field", "words"),
    [
        (schedule(operations_type="Production"),
         "ProcessOperationsSchedule/DataArea/OperationsSchedule/OperationsRequest/OperationsType",
         "OperationsType Production"),
        (schedule().replace(b"<OperationsType>Quality</OperationsType>", b""),
         "ProcessOperationsSchedule/DataArea/OperationsSchedule/OperationsRequest/"
         "SegmentRequirement/OperationsType", "No OperationsType says Quality"),
        (schedule(use="Consumed"),
         "ProcessOperationsSchedule/DataArea/OperationsSchedule/OperationsRequest/"
         "SegmentRequirement/MaterialRequirement[1]/MaterialUse", "has 0 MaterialRequirement"),
        (schedule(lot="<MaterialLotID>B1</MaterialLotID><MaterialLotID>B2</MaterialLotID>"),
         "ProcessOperationsSchedule/DataArea/OperationsSchedule/OperationsRequest/"
         "SegmentRequirement/MaterialRequirement[2]/MaterialLotID[2]", "one MaterialLotID"),
        (schedule().replace(b"<MaterialDefinitionID>TAB-100</MaterialDefinitionID>", b""),
         "ProcessOperationsSchedule/DataArea/OperationsSchedule/OperationsRequest/"
         "SegmentRequirement/MaterialRequirement[2]/MaterialDefinitionID", "as the product"),
        (schedule().replace(b"+01:00", b""),  # a sampling time without its zone
         "ProcessOperationsSchedule/DataArea/OperationsSchedule/OperationsRequest/"
         "SegmentRequirement/EarliestStartTime", "timezone"),
        (MES_RESULT.replace("<TestableObjectID>S-000123</TestableObjectID>", "").encode(),
         "SyncTestResult/DataArea/TestResult/TestableObjectID", "as the sample"),
        (MES_RESULT.replace("<ID>PH/analyst</ID>", "<ID>PH/operator</ID>").encode(),
         "SyncTestResult/DataArea/TestResult/PropertyMeasurement[ID='PH/analyst']",
         "as the analyst"),
        (MES_RESULT.replace("<ID>PH/reviewer</ID>", "<ID>PH</ID>").encode(),
         "SyncTestResult/DataArea/TestResult/PropertyMeasurement[4]/ID",
         "Two PropertyMeasurements are PH"),
        (MES_RESULT.replace(">approved<", ">preliminary<").encode(),
         "SyncTestResult/DataArea/TestResult/PropertyMeasurement[4]/Value/ValueString",
         "reviewer"),
    ],
)  # fmt: skip
def test_content_labgate_cannot_map_is_refused_naming_the_element(
    xml: bytes, field: str, words: str
) -> None:
    assert validate(xml) == []
    with pytest.raises(InvalidInput) as refused:
        from_b2mml(xml)
    assert (refused.value.reason, refused.value.field) == ("b2mml.unmappable", field)
    assert words in refused.value.message
