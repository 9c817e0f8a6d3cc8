"""Message payloads: inbound ones become commands or are refused by path and rule; outbound ones
match what the outbox writes; every schema is published as JSON Schema."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from fakes import TableUnits
from labgate.compliance.envelope_schema import ENVELOPE_SCHEMA_ID
from labgate.domain import commands as c
from labgate.domain import events
from labgate.domain.errors import InvalidInput
from labgate.domain.numbers import RoundingRule
from labgate.domain.samples import NewResult, PlannedTest, Sample
from labgate.domain.status_map import StatusMap
from labgate.entrypoints.api import schemas as api
from labgate.service.b2mml_payload import B2MML_SCHEMA
from labgate.service.messages import (
    INBOUND,
    OUTBOUND,
    SampleCancellationV1,
    SampleRequestV1,
    parse_payload,
    to_command,
)
from labgate.service.outbox.records import OutboxMessage
from labgate.service.packs import PACK_SCHEMA
from labgate.service.reactions.messages import to_lims, to_mes
from labgate.service.schema_catalog import json_schemas

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CTX = c.Context("mes", "system", "trace-1")
DROP = object()  # a member left out of the payload
RES, REQ, REG = "labgate.result.v1", "labgate.sample_request.v1", "labgate.sample_registration.v1"
INV, CAN = "labgate.result_invalidation.v1", "labgate.sample_cancellation.v1"

REQUEST = {
    "mes_request_id": "REQ-1",
    "product": "P1",
    "sampled_at": "2026-11-25T10:00:00+01:00",
    "batch": "B1",
    "lot": "L1",
    "equipment": "EQ-7",
    "sampling_point": "SP",
    "container": "bottle 3",
    "characteristics": ["C-ASSAY"],
}
RESULT = {
    "sample": "S-000001",
    "test_code": "ASSAY",
    "value": "98.50",
    "unit": "%",
    "method_version": "1",
    "analyst": "ana",
    "retest_of": "S-000001-R1",
    "lims_status": "approved",
    "reviewer": "rev",
    "approved_at": "2026-11-25T09:00:00Z",
}
PAYLOADS: dict[str, dict[str, Any]] = {
    "labgate.sample_request.v1": REQUEST,
    "labgate.sample_registration.v1": {"sample": "S-000001", "lims_sample_id": "LIMS 42"},
    "labgate.result.v1": RESULT,
    "labgate.result_invalidation.v1": {"result": "S-000001-R1", "reason": "OOS: bad vial"},
    "labgate.sample_cancellation.v1": {"sample": "S-000001", "reason": "batch scrapped"},
}
COMMANDS: dict[str, c.Command] = {
    "labgate.sample_request.v1": c.RequestSample(
        CTX, "S1", "REQ-1", "P1", AT, batch="B1", lot="L1", equipment="EQ-7",
        sampling_point="SP", container="bottle 3", characteristics=("C-ASSAY",),
    ),
    "labgate.sample_registration.v1": c.RegisterSample(CTX, "S1", "S-000001", "LIMS 42"),
    "labgate.result.v1": c.RecordResult(
        CTX, "S1", "S-000001", "ASSAY", "98.50", "%", "1", "ana", "S-000001-R1", "rev", AT,
        lims_status="approved",
    ),
    "labgate.result_invalidation.v1": c.InvalidateResult(
        CTX, "S1", "S-000001-R1", "OOS: bad vial", None
    ),
    "labgate.sample_cancellation.v1": c.CancelSample(CTX, "S1", "S-000001", "batch scrapped"),
}  # fmt: skip


def changed(payload: dict[str, Any], **changes: object) -> dict[str, Any]:
    """A copy of `payload` with members replaced, added or (DROP) removed."""
    merged = {**payload, **changes}
    return {key: value for key, value in merged.items() if value is not DROP}


@pytest.mark.parametrize("schema_id", sorted(INBOUND))
def test_a_valid_payload_becomes_its_command(schema_id: str) -> None:
    model = parse_payload(schema_id, PAYLOADS[schema_id])
    assert to_command(schema_id, model, CTX, "S1") == COMMANDS[schema_id]


def test_optional_members_may_be_left_out() -> None:
    minimal = {"mes_request_id": "REQ-1", "product": "P1", "sampled_at": "2026-11-25T09:00:00Z"}
    schema_id = "labgate.sample_request.v1"
    command = to_command(schema_id, parse_payload(schema_id, minimal), CTX, "S1")
    assert command == c.RequestSample(CTX, "S1", "REQ-1", "P1", AT)


def test_a_preliminary_result_becomes_a_preliminary_command() -> None:
    payload = changed(RESULT, lims_status="preliminary", reviewer=DROP, approved_at=None)
    command = to_command(RES, parse_payload(RES, payload), CTX, "S1")
    assert isinstance(command, c.RecordResult)
    review = (command.reviewer, command.approved_at)
    assert (command.lims_status, review) == ("preliminary", (None, None))


REFUSALS = {
    "value as a JSON number": (RES, {"value": 98.5}, "payload.value", "string_type"),
    "approved without reviewer": (RES, {"reviewer": DROP}, "payload.reviewer", "review_incomplete"),
    "approved with a null approval time": (
        RES, {"approved_at": None}, "payload.approved_at", "review_incomplete"
    ),
    "preliminary with a reviewer": (
        RES, {"lims_status": "preliminary", "approved_at": DROP}, "payload.reviewer",
        "review_premature",
    ),
    "unknown lims status": (RES, {"lims_status": "invalidated"}, "payload.lims_status",
                            "literal_error"),
    "naive approval time": (
        RES, {"approved_at": "2026-11-25T09:00:00"}, "payload.approved_at", "timezone_aware"
    ),
    "unknown member": (RES, {"colour": "red"}, "payload.colour", "extra_forbidden"),
    "value too long": (RES, {"value": "9" * 201}, "payload.value", "string_too_long"),
    "empty value": (RES, {"value": ""}, "payload.value", "string_too_short"),
    "naive sampling time": (
        REQ, {"sampled_at": "2026-11-25T09:00:00"}, "payload.sampled_at", "timezone_aware"
    ),
    "sampling time not a time": (
        REQ, {"sampled_at": "yesterday"}, "payload.sampled_at", "datetime_from_date_parsing"
    ),
    "code with a space": (REQ, {"product": "P 1"}, "payload.product", "string_pattern_mismatch"),
    "code too long": (REQ, {"batch": "B" * 65}, "payload.batch", "string_too_long"),
    "missing request id": (REQ, {"mes_request_id": DROP}, "payload.mes_request_id", "missing"),
    "characteristic as a number": (
        REQ, {"characteristics": ["C-1", 7]}, "payload.characteristics.1", "string_type"
    ),
    "container too long": (REQ, {"container": "x" * 65}, "payload.container", "string_too_long"),
    "lims sample id too long": (
        REG, {"lims_sample_id": "x" * 65}, "payload.lims_sample_id", "string_too_long"
    ),
    "empty reason": (CAN, {"reason": ""}, "payload.reason", "string_too_short"),
    "reason too long": (INV, {"reason": "x" * 2001}, "payload.reason", "string_too_long"),
    "result id with a slash first": (
        INV, {"result": "/R1"}, "payload.result", "string_pattern_mismatch"
    ),
}  # fmt: skip


@pytest.mark.parametrize(("schema_id", "changes", "field", "rule"), REFUSALS.values(),
                         ids=REFUSALS.keys())  # fmt: skip
@pytest.mark.requirement("URS-A11-5", "URS-A11-4", category="boundary")
def test_each_rule_is_refused_at_its_path(
    schema_id: str, changes: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_payload(schema_id, changed(PAYLOADS[schema_id], **changes))
    assert (refused.value.reason, refused.value.field) == ("envelope.schema_violation", field)
    assert f"(rule {rule})" in refused.value.message
    assert field in refused.value.message


def test_the_path_to_an_unknown_member_is_bounded() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_payload(CAN, changed(PAYLOADS[CAN], **{"x" * 5000: 1}))
    assert refused.value.field == "payload." + "x" * 64


def test_a_payload_that_is_not_an_object_is_refused_as_a_whole() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_payload("labgate.sample_cancellation.v1", ["S-000001", "scrapped"])
    assert (refused.value.reason, refused.value.field) == ("envelope.schema_violation", "payload")


@pytest.mark.parametrize("schema_id", ["labgate.sample_request.v2", "labgate.mes_result.v1", ""])
def test_an_unknown_or_outbound_schema_is_refused(schema_id: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_payload(schema_id, {})
    assert (refused.value.reason, refused.value.field) == ("envelope.unknown_schema", "schema")
    assert "labgate.result.v1" in refused.value.message  # names what would be accepted


def test_a_command_is_built_only_from_its_own_payload() -> None:
    cancellation = SampleCancellationV1(sample="S-000001", reason="scrapped")
    with pytest.raises(TypeError, match="parse_payload"):
        to_command("labgate.result.v1", cancellation, CTX, "S1")
    with pytest.raises(InvalidInput):
        to_command("labgate.nothing.v1", cancellation, CTX, "S1")


API_TWINS: list[tuple[type[BaseModel], str]] = [
    (api.SampleRequestIn, "labgate.sample_request.v1"),
    (api.NativeSampleIn, "labgate.sample_request.v1"),
    (api.ResultIn, "labgate.result.v1"),
    (api.RegistrationIn, "labgate.sample_registration.v1"),
    (api.ReasonIn, "labgate.result_invalidation.v1"),
    (api.ReasonIn, "labgate.sample_cancellation.v1"),
]


@pytest.mark.parametrize(("body", "schema_id"), API_TWINS)
def test_payload_members_follow_the_same_rules_as_the_rest_bodies(
    body: type[BaseModel], schema_id: str
) -> None:
    rest = body.model_json_schema()["properties"]
    message = INBOUND[schema_id].model_json_schema()["properties"]
    assert {name: message[name] for name in rest} == rest


def test_a_rest_body_holds_its_instants_in_utc_as_the_message_does() -> None:
    # The same rule, not only the same schema: an offset as sent, held in UTC (REST bodies
    # kept the sender's offset until they shared the envelope's members: issue 17).
    native = api.NativeSampleIn.model_validate(
        {"product": "P1", "sampled_at": REQUEST["sampled_at"]}
    )
    requested = parse_payload(REQ, REQUEST)
    assert isinstance(requested, SampleRequestV1)
    assert native.sampled_at == requested.sampled_at
    assert native.sampled_at.tzinfo is requested.sampled_at.tzinfo is UTC
    reviewed = api.ReviewedResultIn.model_validate(
        changed(RESULT, lims_status=DROP, approved_at="2026-11-25T10:00:00+01:00")
    )
    assert reviewed.approved_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert reviewed.approved_at.tzinfo is UTC


# ---- published JSON Schemas ------------------------------------------------------------------


def refs(node: object) -> list[str]:
    """Every `$ref` anywhere in a schema."""
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_schema_ids_are_versioned_and_never_shared_between_directions() -> None:
    assert set(INBOUND).isdisjoint(OUTBOUND)
    assert all(re.fullmatch(r"labgate\.[a-z_]+\.v[1-9][0-9]*", s) for s in [*INBOUND, *OUTBOUND])


PUBLISHED = sorted([*INBOUND, *OUTBOUND, PACK_SCHEMA, B2MML_SCHEMA, ENVELOPE_SCHEMA_ID])


@pytest.mark.parametrize("schema_id", PUBLISHED)
def test_every_schema_is_published_as_a_well_formed_json_schema(schema_id: str) -> None:
    published = json_schemas()
    assert sorted(published) == PUBLISHED
    schema = published[schema_id]
    direction = "outbound" if schema_id in OUTBOUND else "inbound"
    direction = "both" if schema_id == ENVELOPE_SCHEMA_ID else direction
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (schema["$id"], schema["title"]) == (f"urn:labgate:schema:{schema_id}", schema_id)
    assert (schema["type"], schema["x-direction"]) == ("object", direction)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])
    assert schema["description"]
    for ref in refs(schema):
        assert ref.removeprefix("#/$defs/") in schema.get("$defs", {}), ref
    assert json.loads(json.dumps(schema)) == schema  # plain JSON, nothing Python-only


def test_the_result_schema_says_an_approved_result_needs_its_review() -> None:
    schema = json_schemas()["labgate.result.v1"]
    assert schema["if"] == {"properties": {"lims_status": {"const": "approved"}}}
    assert set(schema["then"]["required"]) == {"reviewer", "approved_at"}


# ---- golden: what the outbox really writes -----------------------------------------------------


def outbound_id(message: OutboxMessage) -> str:
    """The outbound schema id of an outbox row."""
    return message.schema


def sample_life() -> list[OutboxMessage]:
    """Request, register, report, approve, hold and lift, invalidate, cancel: the outbox rows
    of each step."""
    sample = Sample("S1", "S-000001", "P1", "SPEC", 1, AT, "mes", mes_request_id="REQ-1",
                    batch="B1", lot="L1", sampling_point="SP")  # fmt: skip
    sample.tests.append(PlannedTest("ASSAY", "M", "1", "NLT 98.0", "%", RoundingRule.USP,
                                    alert="NLT 99.0", characteristic="C-ASSAY"))  # fmt: skip
    units, status_map = TableUnits({("mg/g", "%"): "0.1"}), StatusMap()
    steps = [
        lambda: sample.events.append(events.SampleRequested("S1", sample.code, AT)),
        lambda: sample.register("LIMS-42", AT),
        lambda: sample.record_result(
            NewResult("S-000001-R1", "ASSAY", "985", "mg/g", "1", "ana"), AT, units, status_map
        ),
        lambda: sample.approve_result("S-000001-R1", "rev", AT, status_map),
        lambda: sample.events.append(
            events.BatchHeld("S1", sample.code, AT, "DEV-000001", "S-000001-R1", "OOS")
        ),
        lambda: sample.events.append(
            events.BatchHoldLifted("S1", sample.code, AT, "DEV-000001", "S-000001-R1", "closed")
        ),
        lambda: sample.invalidate_result("S-000001-R1", "rev", "OOS: bad vial", AT, status_map),
        lambda: sample.cancel("batch scrapped", AT),
    ]
    written: list[OutboxMessage] = []
    for step in steps:
        step()
        for event in sample.events:
            written += to_mes(event, sample, "trace-1")
            written += to_lims(event, sample, "trace-1")  # an external LIMS
        sample.events.clear()
    return written


# Written by handlers from records other than a sample; each is validated in its own module's tests.
NOT_OF_A_SAMPLE = {
    "labgate.lot_status.v1",  # tests/unit/test_received_lots.py
    "labgate.batch_disposition.v1",  # tests/e2e/test_disposition.py
    "labgate.operation_gate.v1",  # tests/e2e/test_gates.py
}


def test_the_outbound_models_accept_what_the_outbox_writes() -> None:
    written = sample_life()
    assert {outbound_id(m) for m in written} == set(OUTBOUND) - NOT_OF_A_SAMPLE
    for message in written:
        OUTBOUND[outbound_id(message)].model_validate(message.payload)


def test_the_result_to_the_mes_carries_decimals_and_times_as_text() -> None:
    [result] = [m for m in sample_life() if outbound_id(m) == "labgate.mes_result.v1"]
    payload = result.payload
    assert (payload["raw_value"], payload["conversion_factor"]) == ("985", "0.1")
    assert (payload["calculated_value"], payload["approved_at"]) == (
        "98.5", "2026-11-25T09:00:00.000000Z"
    )  # fmt: skip
    assert (payload["reviewer"], payload["result_status"]) == ("rev", "Accepted")


def test_outbound_models_refuse_a_payload_that_drifts() -> None:
    [result] = [m for m in sample_life() if outbound_id(m) == "labgate.mes_result.v1"]
    model = OUTBOUND["labgate.mes_result.v1"]
    for drifted in (
        {**result.payload, "extra": 1},
        {k: v for k, v in result.payload.items() if k != "supersedes"},
        {**result.payload, "reported_value": 98.5},
        {**result.payload, "approved_at": "2026-11-25T09:00:00+00:00"},
    ):
        with pytest.raises(ValueError):
            model.model_validate(drifted)
