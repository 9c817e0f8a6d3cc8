"""What the MES and an external LIMS are told of each event: outbox rows built from the event and
its aggregate (the reactions in `outbox_rows.py` write them, in the event's transaction).

Each payload is its published model (service/messages.py), built and so validated here: a
payload that breaks its schema fails the transaction that made it instead of being sent. The row
holds the model's JSON form."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from uuid6 import uuid7

from labgate.compliance.clock import iso_utc
from labgate.domain import events
from labgate.domain.raw_materials import ReceivedLot
from labgate.domain.samples import Result, Sample
from labgate.service.messages import (
    AcknowledgedTest,
    BatchDispositionV1,
    BatchHoldV1,
    LimsSampleRequestV1,
    LimsTest,
    LotStatusV1,
    MesResultV1,
    Payload,
    ResultInvalidatedV1,
    ResultStatusV1,
    SampleAcknowledgementV1,
    SampleCancelledV1,
)
from labgate.service.outbox.records import LIMS, MES, OutboxMessage

# Outbound schema names where the message type alone would collide with an inbound schema.
OUTBOUND_SCHEMA = {
    (LIMS, "sample_request"): "lims_sample_request",
    (MES, "sample_registration"): "sample_acknowledgement",
    (MES, "result"): "mes_result",
}


def as_json(payload: Payload) -> dict[str, Any]:
    """A payload as its outbox row holds it: the model's JSON form."""
    return payload.model_dump(mode="json")


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def minimum_data_set(sample: Sample, result: Result) -> MesResultV1:
    """What the MES receives for a result: the guide's minimum data set, complete (FAQ)."""
    approved_at = result.approved_at
    return MesResultV1(
        **_header(sample),
        batch=sample.batch,
        lot=sample.lot,
        sampling_point=sample.sampling_point,
        characteristic=sample.test(result.test_code).characteristic,
        result_id=result.code,
        test_code=result.test_code,
        method=result.method,
        method_version=result.method_version,
        analyst=result.analyst,
        reviewer=result.reviewer,
        approved_at=None if approved_at is None else iso_utc(approved_at),
        raw_value=result.raw_value,
        raw_unit=result.raw_unit,
        unit=result.canonical_unit,
        conversion_factor=_decimal(result.conversion_factor),
        calculated_value=_decimal(result.canonical_value),
        reported_value=_decimal(result.reported_value),
        rounding=result.rounding,
        limit_set=result.limit_set,
        specification=sample.specification,
        spec_version=sample.spec_version,
        conforms=result.conforms,
        band=result.band,
        lims_status=result.status,
        result_status=result.mes_status,
        supersedes=result.supersedes,
    )


def hold_payload(event: events.BatchHeld | events.BatchHoldLifted, sample: Sample) -> BatchHoldV1:
    """To the MES: hold the batch (or lot) while a deviation is open; lift it when none is."""
    return BatchHoldV1(
        **_header(sample),
        batch=sample.batch,
        lot=sample.lot,
        hold="on" if isinstance(event, events.BatchHeld) else "off",
        deviation=event.deviation,
        kind="oos",
        result_id=event.result,
        reason=event.reason,
    )


def disposition_message(event: events.BatchDisposed, correlation_id: str | None) -> OutboxMessage:
    """To the MES: the batch was released or rejected (`labgate.batch_disposition.v1`)."""
    payload = BatchDispositionV1(
        site=event.site,
        batch=event.batch,
        product=event.product,
        disposition=event.disposition,  # the model checks it
        signed_by=event.signed_by,
        signed_at=event.occurred_at,
        reason=event.reason,
        samples=list(event.samples),
    )
    return OutboxMessage(
        event.site,
        MES,
        "batch_disposition",
        "labgate.batch_disposition.v1",
        str(uuid7()),
        correlation_id,
        event.batch,
        as_json(payload),
        event.occurred_at,
    )


def lot_status_message(lot: ReceivedLot, correlation_id: str | None, at: datetime) -> OutboxMessage:
    """To the MES: the lot's disposition (labgate.lot_status.v1)."""
    payload = LotStatusV1(
        site=lot.site,
        lot=lot.code,
        material=lot.material,
        supplier=lot.supplier,
        supplier_lot=lot.supplier_lot,
        status=lot.status.value,  # the model checks it
        sample_id=lot.sample,
        full_panel=lot.full_panel,
        decided_by=lot.decided_by,  # None (an undecided lot) is refused
        decided_at=lot.decided_at,
        reason=lot.decision_reason,
    )
    return OutboxMessage(
        lot.site,
        MES,
        "lot_status",
        "labgate.lot_status.v1",
        str(uuid7()),
        correlation_id,
        lot.code,
        as_json(payload),
        at,
    )


def to_lims(
    event: events.SampleEvent, sample: Sample, correlation_id: str | None
) -> list[OutboxMessage]:
    """What an external LIMS is told of a sample's event: a request, a cancellation."""
    if isinstance(event, events.SampleCancelled):
        cancelled = _cancelled(sample, event.reason)
        return [
            _message(
                event, sample, correlation_id, LIMS, "sample_cancelled", sample.code, cancelled
            )
        ]
    if not isinstance(event, events.SampleRequested):
        return []
    tests = [
        LimsTest(test_code=t.test_code, method=t.method, method_version=t.method_version)
        for t in sample.tests
    ]
    request = LimsSampleRequestV1(**_header(sample), tests=tests)
    return [_message(event, sample, correlation_id, LIMS, "sample_request", sample.code, request)]


def _header(sample: Sample) -> dict[str, Any]:
    """The members of `SampleHeader`, as keyword arguments of a model built on it."""
    return {"site": sample.site, "sample_id": sample.code, "mes_request_id": sample.mes_request_id}


def _cancelled(sample: Sample, reason: str) -> SampleCancelledV1:
    return SampleCancelledV1(**_header(sample), reason=reason, sample_status=sample.mes_status)


def _message(
    event: events.SampleEvent,
    sample: Sample,
    correlation_id: str | None,
    destination: str,
    kind: str,
    record: str,
    payload: Payload,
) -> OutboxMessage:
    return OutboxMessage(
        sample.site,
        destination,
        kind,
        f"labgate.{OUTBOUND_SCHEMA.get((destination, kind), kind)}.v1",
        str(uuid7()),
        correlation_id,
        record,
        as_json(payload),
        event.occurred_at,
    )


def _acknowledgement(sample: Sample) -> SampleAcknowledgementV1:
    tests = [
        AcknowledgedTest(
            test_code=t.test_code,
            characteristic=t.characteristic,
            method=t.method,
            method_version=t.method_version,
        )
        for t in sample.tests
    ]
    return SampleAcknowledgementV1(
        **_header(sample),
        lims_sample_id=sample.lims_sample_id,
        tests=tests,
        specification=sample.spec_ref,
    )


def to_mes(
    event: events.SampleEvent, sample: Sample, correlation_id: str | None
) -> list[OutboxMessage]:
    """What the MES is told of a sample's event."""

    def message(kind: str, record: str, payload: Payload) -> OutboxMessage:
        return _message(event, sample, correlation_id, MES, kind, record, payload)

    match event:
        case events.SampleRegistered():
            return [message("sample_registration", sample.code, _acknowledgement(sample))]
        case events.ResultRecorded(result=code) if (
            sample.result(code).status.value == "preliminary"
        ):
            # A result reviewed elsewhere and posted approved goes out once, as the result below.
            result = sample.result(code)
            status = ResultStatusV1(
                **_header(sample),
                result_id=code,
                test_code=result.test_code,
                lims_status=result.status,
                result_status=result.mes_status,
            )
            return [message("result_status", code, status)]
        case events.ResultApproved(result=code):
            return [message("result", code, minimum_data_set(sample, sample.result(code)))]
        case events.ResultInvalidated(result=code, reason=reason):
            result = sample.result(code)
            invalidated = ResultInvalidatedV1(
                **_header(sample),
                result_id=code,
                test_code=result.test_code,
                reason=reason,
                result_status=result.mes_status,
                superseded=True,
            )
            return [message("result_invalidated", code, invalidated)]
        case events.BatchHeld() | events.BatchHoldLifted() if sample.batch or sample.lot:
            return [message("batch_hold", event.deviation, hold_payload(event, sample))]
        case events.SampleCancelled(reason=reason):
            return [message("sample_cancelled", sample.code, _cancelled(sample, reason))]
    return []
