"""What the MES and an external LIMS are told of each event: outbox rows built from the event and
its aggregate (the reactions in `outbox_rows.py` write them, in the event's transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from uuid6 import uuid7

from labgate.compliance.canonical import to_jsonable
from labgate.domain import events
from labgate.domain.raw_materials import ReceivedLot
from labgate.domain.samples import Result, Sample
from labgate.service.outbox.records import LIMS, MES, OutboxMessage

# Outbound schema names where the message type alone would collide with an inbound schema.
OUTBOUND_SCHEMA = {
    (LIMS, "sample_request"): "lims_sample_request",
    (MES, "sample_registration"): "sample_acknowledgement",
    (MES, "result"): "mes_result",
}


def minimum_data_set(sample: Sample, result: Result) -> dict[str, Any]:
    """What the MES receives for a result: the guide's minimum data set, complete (FAQ)."""
    planned = sample.test(result.test_code)
    payload: dict[str, Any] = to_jsonable(
        {
            "site": sample.site,
            "sample_id": sample.code,
            "mes_request_id": sample.mes_request_id,
            "batch": sample.batch,
            "lot": sample.lot,
            "sampling_point": sample.sampling_point,
            "characteristic": planned.characteristic,
            "result_id": result.code,
            "test_code": result.test_code,
            "method": result.method,
            "method_version": result.method_version,
            "analyst": result.analyst,
            "reviewer": result.reviewer,
            "approved_at": result.approved_at,
            "raw_value": result.raw_value,
            "raw_unit": result.raw_unit,
            "unit": result.canonical_unit,
            "conversion_factor": result.conversion_factor,
            "calculated_value": result.canonical_value,
            "reported_value": result.reported_value,
            "rounding": result.rounding,
            "limit_set": result.limit_set,
            "specification": sample.specification,
            "spec_version": sample.spec_version,
            "conforms": result.conforms,
            "band": result.band,
            "lims_status": result.status,
            "result_status": result.mes_status,
            "supersedes": result.supersedes,
        }
    )
    return payload


def hold_payload(
    event: events.BatchHeld | events.BatchHoldLifted, sample: Sample
) -> dict[str, Any]:
    """To the MES: hold the batch (or lot) while a deviation is open; lift it when none is."""
    return {
        "site": sample.site,
        "sample_id": sample.code,
        "mes_request_id": sample.mes_request_id,
        "batch": sample.batch,
        "lot": sample.lot,
        "hold": "on" if isinstance(event, events.BatchHeld) else "off",
        "deviation": event.deviation,
        "kind": "oos",
        "result_id": event.result,
        "reason": event.reason,
    }


def disposition_message(
    payload: dict[str, Any], at: datetime, correlation_id: str | None
) -> OutboxMessage:
    """To the MES: the batch was released or rejected (`labgate.batch_disposition.v1`)."""
    return OutboxMessage(
        payload["site"],
        MES,
        "batch_disposition",
        "labgate.batch_disposition.v1",
        str(uuid7()),
        correlation_id,
        payload["batch"],
        to_jsonable(payload),
        at,
    )


def lot_status_message(lot: ReceivedLot, correlation_id: str | None, at: datetime) -> OutboxMessage:
    """To the MES: the lot's disposition (labgate.lot_status.v1)."""
    payload = {
        "site": lot.site,
        "lot": lot.code,
        "material": lot.material,
        "supplier": lot.supplier,
        "supplier_lot": lot.supplier_lot,
        "status": lot.status.value,
        "sample_id": lot.sample,
        "full_panel": lot.full_panel,
        "decided_by": lot.decided_by,
        "decided_at": lot.decided_at,
        "reason": lot.decision_reason,
    }
    return OutboxMessage(
        lot.site,
        MES,
        "lot_status",
        "labgate.lot_status.v1",
        str(uuid7()),
        correlation_id,
        lot.code,
        to_jsonable(payload),
        at,
    )


def to_lims(
    event: events.SampleEvent, sample: Sample, correlation_id: str | None
) -> list[OutboxMessage]:
    """What an external LIMS is told of a sample's event: a request, a cancellation."""
    if not isinstance(event, events.SampleRequested | events.SampleCancelled):
        return []
    header = _header(sample)
    if isinstance(event, events.SampleCancelled):
        payload = {**header, "reason": event.reason, "sample_status": sample.mes_status.value}
        return [_message(event, sample, correlation_id, LIMS, "sample_cancelled", sample.code,
                         payload)]  # fmt: skip
    tests = [
        {"test_code": t.test_code, "method": t.method, "method_version": t.method_version}
        for t in sample.tests
    ]
    return [_message(event, sample, correlation_id, LIMS, "sample_request", sample.code,
                     {**header, "tests": tests})]  # fmt: skip


def _header(sample: Sample) -> dict[str, Any]:
    return {"site": sample.site, "sample_id": sample.code, "mes_request_id": sample.mes_request_id}


def _message(
    event: events.SampleEvent,
    sample: Sample,
    correlation_id: str | None,
    destination: str,
    kind: str,
    record: str,
    payload: dict[str, Any],
) -> OutboxMessage:
    return OutboxMessage(
        sample.site,
        destination,
        kind,
        f"labgate.{OUTBOUND_SCHEMA.get((destination, kind), kind)}.v1",
        str(uuid7()),
        correlation_id,
        record,
        payload,
        event.occurred_at,
    )


def to_mes(
    event: events.SampleEvent, sample: Sample, correlation_id: str | None
) -> list[OutboxMessage]:
    """What the MES is told of a sample's event."""

    def message(kind: str, record: str, payload: dict[str, Any]) -> OutboxMessage:
        return _message(event, sample, correlation_id, MES, kind, record, payload)

    header = _header(sample)
    tests: list[dict[str, Any]]
    payload: dict[str, Any]
    match event:
        case events.SampleRegistered():
            tests = [
                {
                    "test_code": t.test_code,
                    "characteristic": t.characteristic,
                    "method": t.method,
                    "method_version": t.method_version,
                }
                for t in sample.tests
            ]
            payload = {
                **header,
                "lims_sample_id": sample.lims_sample_id,
                "tests": tests,
                "specification": sample.spec_ref,
            }
            return [message("sample_registration", sample.code, payload)]
        case events.ResultRecorded(result=code) if (
            sample.result(code).status.value == "preliminary"
        ):
            # A result reviewed elsewhere and posted approved goes out once, as the result below.
            result = sample.result(code)
            payload = {
                **header,
                "result_id": code,
                "test_code": result.test_code,
                "lims_status": result.status.value,
                "result_status": result.mes_status.value,
            }
            return [message("result_status", code, payload)]
        case events.ResultApproved(result=code):
            return [message("result", code, minimum_data_set(sample, sample.result(code)))]
        case events.ResultInvalidated(result=code, reason=reason):
            result = sample.result(code)
            payload = {
                **header,
                "result_id": code,
                "test_code": result.test_code,
                "reason": reason,
                "result_status": result.mes_status.value,
                "superseded": True,
            }
            return [message("result_invalidated", code, payload)]
        case events.BatchHeld() | events.BatchHoldLifted() if sample.batch or sample.lot:
            return [message("batch_hold", event.deviation, hold_payload(event, sample))]
        case events.SampleCancelled(reason=reason):
            payload = {**header, "reason": reason, "sample_status": sample.mes_status.value}
            return [message("sample_cancelled", sample.code, payload)]
    return []
