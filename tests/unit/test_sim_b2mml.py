"""The simulated MES speaking B2MML V0701: the schedule it writes validates against the MESA XSDs
and maps, through labgate's own reader, to the sample request it means; what labgate's relay
delivers to a B2MML MES (B2mmlWebhook: the document, its detached signature and headers) reads
back to the payload the JSON envelope would have carried; a body that is not labgate's, as
signed, is refused with 401 and journalled.

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from starlette.testclient import TestClient

from labgate.adapters.channels.b2mml_webhook import B2mmlWebhook
from labgate.adapters.codecs.b2mml import NS, parse_xml, validate
from labgate.adapters.codecs.b2mml_envelope import decode_message
from labgate.adapters.codecs.b2mml_messages import from_b2mml
from labgate.adapters.connectors.partner.dispatch import Dispatcher, Outcome
from labgate.adapters.connectors.partner.identity import Identity, Sequences
from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.outgoing import Outgoing
from labgate.adapters.connectors.partner.webhook import XML, Received, Webhook
from labgate.compliance.detached import sign_detached
from labgate.compliance.envelope import Envelope, EnvelopeError, build_envelope, encode
from labgate.compliance.keys import SourceKey
from labgate.compliance.signer import Signer
from labgate.service.b2mml_payload import B2mmlMessage
from labgate.service.messages import OUTBOUND
from labgate_sim import b2mml_side as b
from labgate_sim.faults import FaultPlan
from labgate_sim.mes import MesSettings, MesSim

LABGATE = Signer.generate("labgate-1")
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
KEY = SourceKey("labgate", LABGATE.kid, LABGATE.public_jwk, SINCE, "test", SINCE)
SENT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MESSAGE_ID = "0193b7a2-0000-7000-8000-000000000001"
REQUEST = {
    "mes_request_id": "SIM-0001", "product": "PCM-500", "sampled_at": "2026-11-25T08:15:00.123456Z",
    "batch": "B-PCM-24002", "sampling_point": "SP-PCM-REL",
}  # fmt: skip
MES_RESULT = {
    "site": "PLT1", "sample_id": "S-000123", "mes_request_id": "SIM-0001", "batch": "B-PCM-24002",
    "lot": None, "sampling_point": "SP-PCM-REL", "characteristic": "assay",
    "result_id": "R-000456", "test_code": "ASSAY", "method": "M-ASSAY", "method_version": "2",
    "analyst": "lims-analyst", "reviewer": "lims-reviewer",
    "approved_at": "2026-11-25T09:00:00.000000Z", "raw_value": "985", "raw_unit": "mg/g",
    "unit": "%", "conversion_factor": "0.1", "calculated_value": "98.5", "reported_value": "98.5",
    "rounding": "1 decimal place", "limit_set": "PCM-500 v3: 98.0 - 102.0",
    "specification": "PCM-500", "spec_version": 3, "conforms": True, "band": "none",
    "lims_status": "approved", "result_status": "Accepted", "supersedes": None,
}  # fmt: skip
TEXT_RESULT = {
    **MES_RESULT, "test_code": "APPEAR", "method": "M-VIS", "method_version": "1",
    "characteristic": None, "raw_value": "Does not conform", "raw_unit": None, "unit": None,
    "conversion_factor": None, "calculated_value": None, "reported_value": None,
    "rounding": "text, as written", "limit_set": "PCM-500 v3: CONFORMS: White tablet",
    "conforms": False, "band": None, "result_status": "Rejected", "supersedes": "R-000400",
}  # fmt: skip
LOT_RESULT = {**MES_RESULT, "batch": None, "lot": "L-RM-0042", "sampling_point": None,
              "mes_request_id": None}  # fmt: skip
STATUS = {
    "site": "PLT1", "sample_id": "S-000123", "mes_request_id": "SIM-0001",
    "result_id": "R-000456", "test_code": "ASSAY", "lims_status": "preliminary",
    "result_status": "Pending",
}  # fmt: skip
ACK = {
    "site": "PLT1", "sample_id": "S-000123", "mes_request_id": "SIM-0001",
    "lims_sample_id": "LIMS-77", "specification": "PCM-500 v3",
    "tests": [
        {"test_code": "ASSAY", "method": "M-ASSAY", "method_version": "2",
         "characteristic": "assay"},
        {"test_code": "APPEAR", "method": "M-VIS", "method_version": "1",
         "characteristic": None},
    ],
}  # fmt: skip


@dataclass
class Recorder:
    """Stands in for the relay's WebhookTransport: keeps what B2mmlWebhook would POST."""

    posts: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, destination: str, body: bytes, headers: dict[str, str], message_id: str) -> None:
        self.posts.append((body, {**headers, "Idempotency-Key": message_id}))

    def deliver(self, destination: str, envelope: bytes, message_id: str) -> None:
        self.post(destination, envelope, {"Content-Type": "application/json"}, message_id)


def delivered(
    schema: str, payload: dict[str, Any], message_id: str = MESSAGE_ID
) -> tuple[bytes, dict[str, str]]:
    """The body and headers labgate's relay sends a B2MML MES for one outbox message."""
    OUTBOUND[schema].model_validate(payload)  # a payload the outbox could have written
    document = build_envelope(schema, "PLT1", "labgate", "mes", 7, payload, kid=LABGATE.kid,
                              private_jwk=LABGATE.private_jwk, sent_at=SENT,
                              correlation_id="SIM-0001", message_id=message_id)  # fmt: skip
    recorder = Recorder()
    B2mmlWebhook(recorder, LABGATE).deliver("mes", encode(document), message_id)  # type: ignore[arg-type]
    [post] = recorder.posts
    return post


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


# --- the sample request the MES writes ---------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        REQUEST,
        {k: v for k, v in REQUEST.items() if k not in ("batch", "sampling_point")},
    ],
)
def test_the_schedule_the_mes_writes_validates_and_maps_to_its_sample_request(
    payload: dict[str, Any],
) -> None:
    xml = b.schedule(payload, site="PLT1", sender="mes", message_id=MESSAGE_ID, sent_at=SENT)
    assert validate(xml.encode()) == []
    assert parse_xml(xml.encode()).findtext(f"{{{NS}}}ApplicationArea/{{{NS}}}BODID") == MESSAGE_ID
    intended = {k: v for k, v in payload.items() if v is not None}
    assert from_b2mml(xml.encode()) == [("labgate.sample_request.v1", intended)]


class Nowhere:
    name = "nowhere"

    async def send(self, item: Outgoing) -> Outcome:
        raise AssertionError("not sent in a unit test")

    async def close(self) -> None:
        pass


def test_a_b2mml_request_is_an_envelope_whose_message_id_is_the_bodid(tmp_path: Path) -> None:
    signer = Signer.generate("mes-sim-1")
    settings = MesSettings("PLT1", "PCM-500", "B-PCM-24002", "SP-PCM-REL", message_format="b2mml")
    journal = Journal(None)
    sim = MesSim(settings, Identity("mes", signer, Sequences()), Dispatcher(Nowhere(), journal),
                 FaultPlan({}, 0, True, 0, 0), journal)  # fmt: skip
    item = sim.sample_request("SIM-0007")
    assert (item.schema, item.document["correlation_id"]) == (b.B2MML, "SIM-0007")
    message = decode_message(item.wire())
    assert isinstance(message, B2mmlMessage)
    [model] = message.models()  # labgate's own inbox reads it: XSD, mapping, payload schema
    read = model.model_dump(exclude_none=True)
    assert {k: v for k, v in read.items() if k != "sampled_at" and v != []} == {
        "mes_request_id": "SIM-0007", "product": "PCM-500", "batch": "B-PCM-24002",
        "sampling_point": "SP-PCM-REL",
    }  # fmt: skip
    root = parse_xml(item.document["payload"]["document"].encode())
    assert root.findtext(f"{{{NS}}}ApplicationArea/{{{NS}}}BODID") == item.message_id


# --- labgate's documents, read back ------------------------------------------------------------

LOT_STATUS = {
    "site": "PLT1", "lot": "RM-000007", "material": "API-IBU", "supplier": "SUP-1",
    "supplier_lot": "IBU-26-0240", "status": "rejected", "sample_id": "S-000300",
    "full_panel": False, "decided_by": "qa", "decided_at": "2026-11-25T09:00:00.000000Z",
    "reason": "Identity failed",
}  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "payload", "root"),
    [
        ("labgate.mes_result.v1", MES_RESULT, "ProcessTestResult"),
        ("labgate.mes_result.v1", TEXT_RESULT, "ProcessTestResult"),
        ("labgate.mes_result.v1", LOT_RESULT, "SyncOperationsPerformance"),
        ("labgate.result_status.v1", STATUS, "SyncTestResult"),
        ("labgate.sample_acknowledgement.v1", ACK, "AcknowledgeOperationsSchedule"),
        ("labgate.lot_status.v1", LOT_STATUS, "SyncMaterialLot"),
    ],
    ids=["result", "text-result", "lot-result", "status", "acknowledgement", "lot-status"],
)
def test_what_labgate_delivers_reads_back_to_the_payload_it_maps(
    schema: str, payload: dict[str, Any], root: str
) -> None:
    body, headers = delivered(schema, payload)
    assert headers["Content-Type"] == XML
    message = b.read_document(body, headers, KEY)
    assert message == Received(schema, MESSAGE_ID, "mes", 7, "SIM-0001", payload, XML, root,
                               "X-Labgate-Signature", "B2MML V0701")  # fmt: skip


def test_the_journal_fields_of_a_result_are_those_of_its_json_form() -> None:
    body, headers = delivered("labgate.mes_result.v1", MES_RESULT)
    got = b.read_document(body, lowered(headers), KEY).payload
    assert (got["result_id"], got["sample_id"], got["test_code"]) == (
        "R-000456",
        "S-000123",
        "ASSAY",
    )
    assert (got["reported_value"], got["unit"], got["raw_value"], got["raw_unit"]) == (
        "98.5", "%", "985", "mg/g"
    )  # fmt: skip
    assert (got["result_status"], got["lims_status"], got["reviewer"]) == (
        "Accepted", "approved", "lims-reviewer"
    )  # fmt: skip


# --- refusals ----------------------------------------------------------------------------------


def tampered(body: bytes) -> bytes:
    changed = body.replace(b"<ValueString>98.5</ValueString>", b"<ValueString>99.5</ValueString>")
    assert changed != body
    return changed


@pytest.mark.parametrize(
    "damage",
    [
        lambda body, headers: (tampered(body), headers),
        lambda body, headers: (body, {**headers, "X-Labgate-Signature": ""}),
        lambda body, headers: (body, {k: v for k, v in headers.items() if "Signature" not in k}),
        lambda body, headers: (body, {**headers, "X-Labgate-Signature": "not.a-jws"}),
    ],
    ids=["tampered-body", "empty-signature", "no-signature", "garbage-signature"],
)
def test_a_body_that_is_not_labgates_as_signed_fails_verification(damage: Any) -> None:
    body, headers = damage(*delivered("labgate.mes_result.v1", MES_RESULT))
    with pytest.raises(EnvelopeError) as refused:
        b.read_document(body, headers, KEY)
    assert refused.value.reason == "envelope.bad_signature"


def test_another_keys_signature_fails_verification() -> None:
    body, headers = delivered("labgate.mes_result.v1", MES_RESULT)
    other = Signer.generate(LABGATE.kid)  # same kid, another key: a forger's
    key = SourceKey("labgate", other.kid, other.public_jwk, SINCE, "test", SINCE)
    with pytest.raises(EnvelopeError, match="does not match"):
        b.read_document(body, headers, key)


def resigned(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    token = sign_detached(body, LABGATE.kid, LABGATE.private_jwk)
    return body, {**headers, "X-Labgate-Signature": token}


def test_a_signed_document_must_also_be_valid_b2mml_of_the_schema_it_names() -> None:
    body, headers = delivered("labgate.mes_result.v1", MES_RESULT)
    root = parse_xml(body)
    etree.SubElement(
        root.find(f"{{{NS}}}DataArea/{{{NS}}}TestResult"), f"{{{NS}}}Colour"
    ).text = "x"
    broken = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    for bad, reason in (
        (resigned(broken, headers), "b2mml.invalid"),
        (resigned(b"<not-closed", headers), "b2mml.not_well_formed"),
        ((body, {**headers, "X-Labgate-Schema": "labgate.result_status.v1"}),
         "b2mml.unexpected_root"),
        ((body, {**headers, "Idempotency-Key": "another"}), "b2mml.id_mismatch"),
    ):  # fmt: skip
        with pytest.raises(EnvelopeError) as refused:
            b.read_document(*bad, KEY)
        assert refused.value.reason == reason


# --- the webhook -------------------------------------------------------------------------------


@dataclass
class Taker:
    """Documents for the webhook: the real reader, and a record of what was taken."""

    taken: list[Received] = field(default_factory=list)

    def read_document(
        self, body: bytes, headers: Any, key: SourceKey, rules: Any, received_at: datetime
    ) -> Received:
        return b.read_document(body, headers, key, rules, received_at)

    async def take(self, message: Received, received_at: datetime) -> None:
        self.taken.append(message)


def test_the_webhook_takes_a_signed_document_once_and_refuses_a_tampered_one_with_401(
    tmp_path: Path,
) -> None:
    taker, journal, envelopes = Taker(), Journal(tmp_path / "mes.jsonl"), []

    async def handle(envelope: Envelope, received_at: datetime) -> None:
        envelopes.append(envelope.schema)

    webhook = Webhook(KEY, handle, journal, taker)
    body, headers = delivered("labgate.mes_result.v1", MES_RESULT)
    invalidation = {**STATUS, "reason": "pipetting error", "superseded": False}
    del invalidation["lims_status"]
    other = "0193b7a2-0000-7000-8000-000000000002"
    json_body, json_headers = delivered("labgate.result_invalidated.v1", invalidation, other)
    with TestClient(webhook.app()) as client:
        first = client.post("/mes", content=body, headers=headers)
        again = client.post("/mes", content=body, headers=headers)
        forged = client.post("/mes", content=tampered(body), headers=headers)
        plain = client.post("/mes", content=json_body, headers=json_headers)
    journal.close()
    assert (first.json(), again.json()) == ({"status": "taken"}, {"status": "duplicate"})
    assert (forged.status_code, plain.status_code) == (401, 200)
    assert [m.payload for m in taker.taken] == [MES_RESULT]
    assert envelopes == ["labgate.result_invalidated.v1"]
    lines = [json.loads(line) for line in (tmp_path / "mes.jsonl").read_text().splitlines()]
    assert [(x["event"], x.get("reason")) for x in lines] == [
        ("duplicate", None), ("refused", "envelope.bad_signature")
    ]  # fmt: skip
    assert dict(webhook.counts) == {"received": 2, "duplicate": 1, "refused": 1}
