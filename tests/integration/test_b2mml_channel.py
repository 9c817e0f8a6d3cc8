"""B2MML on the MES side, through the real inbox and relay: an MES sends its sample request as a
ProcessOperationsSchedule and a LIMS its results as a ProcessTestResult, each inside a signed
envelope; labgate sends the MES its results as B2MML documents, validated and signed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select

from fakes import ManualClock
from labgate.adapters.channels.b2mml_webhook import B2mmlWebhook
from labgate.adapters.channels.webhook import WebhookTransport
from labgate.adapters.codecs.b2mml import NS, validate
from labgate.adapters.store import tables as t
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.detached import verify_detached
from labgate.compliance.envelope import EnvelopeError
from labgate.compliance.signer import Signer
from labgate.service.inbox.admission import ReceiptRefused
from labgate.service.outbox.relay import Relay
from plant import SITE, Plant
from receiver import Receiver
from senders import Sender

SCHEDULE = f"""<?xml version="1.0" encoding="UTF-8"?>
<ProcessOperationsSchedule xmlns="{NS}" releaseID="V0701">
  <ApplicationArea><CreationDateTime>2026-11-24T10:00:00Z</CreationDateTime></ApplicationArea>
  <DataArea>
    <Process/>
    <OperationsSchedule>
      <ID>SCH-1</ID>
      <OperationsType>Quality</OperationsType>
      <OperationsRequest>
        <ID>REQ-B2MML-1</ID>
        <OperationsType>Quality</OperationsType>
        <SegmentRequirement>
          <ID>SEG-1</ID>
          <EarliestStartTime>2026-11-24T10:00:00Z</EarliestStartTime>
          <ProcessSegmentID>PS-SAMPLING</ProcessSegmentID>
          <OperationsDefinitionID>OD-SAMPLING</OperationsDefinitionID>
          <OperationsSegmentID>OS-SAMPLING</OperationsSegmentID>
          <EquipmentRequirement>
            <ID>ER-1</ID><EquipmentID>SP-REL</EquipmentID>
            <EquipmentUse>Sampling point</EquipmentUse>
          </EquipmentRequirement>
          <MaterialRequirement>
            <ID>MR-1</ID><MaterialDefinitionID>P1</MaterialDefinitionID>
            <MaterialLotID>B1</MaterialLotID>
            <MaterialUse>Destructive Sample</MaterialUse>
          </MaterialRequirement>
        </SegmentRequirement>
      </OperationsRequest>
    </OperationsSchedule>
  </DataArea>
</ProcessOperationsSchedule>"""

RESULTS = f"""<?xml version="1.0" encoding="UTF-8"?>
<ProcessTestResult xmlns="{NS}" releaseID="V0701">
  <ApplicationArea><CreationDateTime>2026-11-25T10:00:00Z</CreationDateTime></ApplicationArea>
  <DataArea>
    <Process/>
    <TestResult>
      <ID>LIMS-1</ID>
      <TestableObjectID>S-000001</TestableObjectID>
      <EvaluatedCriterionResult>preliminary</EvaluatedCriterionResult>
      <PropertyMeasurement><ID>ASSAY</ID>
        <Value><ValueString>99.4</ValueString><UnitOfMeasure>%</UnitOfMeasure></Value>
      </PropertyMeasurement>
      <PropertyMeasurement><ID>ASSAY/method_version</ID>
        <Value><ValueString>1</ValueString></Value></PropertyMeasurement>
      <PropertyMeasurement><ID>ASSAY/analyst</ID>
        <Value><ValueString>analyst</ValueString></Value></PropertyMeasurement>
      <PropertyMeasurement><ID>WATER</ID>
        <Value><ValueString>0.21</ValueString><UnitOfMeasure>%</UnitOfMeasure></Value>
      </PropertyMeasurement>
      <PropertyMeasurement><ID>WATER/method_version</ID>
        <Value><ValueString>1</ValueString></Value></PropertyMeasurement>
      <PropertyMeasurement><ID>WATER/analyst</ID>
        <Value><ValueString>analyst</ValueString></Value></PropertyMeasurement>
    </TestResult>
  </DataArea>
</ProcessTestResult>"""


def approved(document: str) -> str:
    """The same results, reviewed and approved in the LIMS (reviewer and time)."""
    reviewed = "".join(
        f"<PropertyMeasurement><ID>{test}/reviewer</ID><Value><ValueString>reviewer"
        "</ValueString></Value></PropertyMeasurement>"
        for test in ("ASSAY", "WATER")
    )
    return (
        document.replace(
            "<EvaluatedCriterionResult>preliminary", "<EvaluatedCriterionResult>approved"
        )
        .replace(
            "<ID>LIMS-1</ID>",
            "<ID>LIMS-1</ID><EvaluationDate>2026-11-25T09:00:00Z</EvaluationDate>",
        )
        .replace("    </TestResult>", reviewed + "</TestResult>")
    )


def b2mml(sender: Sender, document: str) -> bytes:
    return sender.envelope("labgate.b2mml.v1", {"document": document})


def post(plant: Plant, who: str, raw: bytes) -> Any:
    headers = {"X-API-Key": plant.api_keys[who], "Content-Type": "application/json"}
    return plant.client.post("/api/v1/inbox", content=raw, headers=headers)


def test_an_mes_sample_request_in_b2mml_is_applied_like_its_json_form(
    hub: Hub, plant: Plant, mes: Sender
) -> None:
    answer = post(plant, "mes", b2mml(mes, SCHEDULE))
    assert answer.status_code == 200, answer.text
    sample = plant.call("auditor", "GET", f"/samples/{answer.json()['outcome']}").json()
    assert (sample["mes_request_id"], sample["batch"], sample["sampling_point"]) == (
        "REQ-B2MML-1", "B1", "SP-REL")  # fmt: skip
    assert {t["test_code"] for t in sample["tests"]} == {"ASSAY", "WATER", "APPEAR"}


def test_lims_results_in_b2mml_are_recorded_in_one_transaction(
    hub: Hub, plant: Plant, mes: Sender, lims: Sender
) -> None:
    post(plant, "mes", b2mml(mes, SCHEDULE))
    lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": "S-000001"}))
    assert lims.send(b2mml(lims, RESULTS)).status == "applied"
    sample = plant.call("auditor", "GET", "/samples/S-000001").json()
    assert [(r["test_code"], r["raw_value"]) for r in sample["results"]] == [
        ("ASSAY", "99.4"), ("WATER", "0.21")]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "reason", "field"),
    [
        ('<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "b2mml.doctype_forbidden", None),
        (SCHEDULE.replace("<ID>SCH-1</ID>", ""), "b2mml.invalid", None),
        (SCHEDULE.replace("Destructive Sample", "Consumed"), "b2mml.unmappable", "MaterialUse"),
    ],
    ids=["entity bomb", "breaks the XSD", "not a sample"],
)
def test_a_refused_b2mml_document_is_quarantined_with_its_reason(
    hub: Hub, mes: Sender, document: str, reason: str, field: str | None
) -> None:
    raw = b2mml(mes, document)
    with pytest.raises(ReceiptRefused) as refused:
        mes.send(raw)
    assert refused.value.reason == reason
    if field:
        assert field in (refused.value.field or "")
    with hub.engine.connect() as connection:
        kept = connection.execute(select(t.quarantine.c.raw, t.quarantine.c.reason_code)).one()
    assert tuple(kept) == (raw, reason)
    assert "S-000001" not in json.dumps(plant_samples(hub))


def plant_samples(hub: Hub) -> list[str]:
    with hub.engine.connect() as connection:
        return list(connection.scalars(select(t.samples.c.code)))


# --- outbound: the relay speaks B2MML to the MES ------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def test_the_relay_sends_the_mes_validated_b2mml_signed_over_its_bytes(
    hub: Hub, plant: Plant, mes: Sender, lims: Sender, clock: ManualClock, receiver: Receiver
) -> None:
    post(plant, "mes", b2mml(mes, SCHEDULE))
    lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": "S-000001"}))
    assert lims.send(b2mml(lims, approved(RESULTS))).status == "applied"
    signer = Signer.generate("labgate-test-1")
    with WebhookTransport({"mes": receiver.url("/mes")}, timeout_s=2) as webhook:
        relay = Relay(SqlOutboxStore(hub.sessions), {"mes": B2mmlWebhook(webhook, signer)},
                      clock, signer)  # fmt: skip
        report = relay.run_once()
    assert report.failed == report.dead == 0 and report.delivered == len(receiver.requests)
    by_schema = {r.headers["x-labgate-schema"]: r for r in receiver.requests}
    assert set(by_schema) >= {"labgate.sample_acknowledgement.v1", "labgate.mes_result.v1"}
    for request in receiver.requests:
        assert request.headers["content-type"] == "application/xml"
        assert validate(request.body) == []
        verify_detached(request.body, request.headers["x-labgate-signature"], signer.public_jwk)
        with pytest.raises(EnvelopeError):
            verify_detached(request.body + b" ", request.headers["x-labgate-signature"],
                            signer.public_jwk)  # fmt: skip
        root = etree.fromstring(request.body)
        assert root.findtext(f"{{{NS}}}ApplicationArea/{{{NS}}}BODID") == request.key
    results = [
        r for r in receiver.requests if r.headers["x-labgate-schema"] == "labgate.mes_result.v1"
    ]
    values = set()
    for request in results:
        root = etree.fromstring(request.body)
        assert etree.QName(root).localname == "ProcessTestResult"
        measured = root.find(f".//{{{NS}}}PropertyMeasurement")
        values.add(measured.findtext(f"{{{NS}}}ID"))  # type: ignore[union-attr]
    assert values == {"ASSAY", "WATER"}
    assert SITE == "T1"
