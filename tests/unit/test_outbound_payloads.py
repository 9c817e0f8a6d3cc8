"""Outbound payloads, byte for byte: the canonical JSON of every payload the outbox writes, for
realistic aggregates, is the one recorded in `data/outbound_payloads.json` (recorded from the
hand-written dicts before the payloads were built from their models: issue 17). A change to
what the MES or a LIMS receives shows here first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from fakes import TableUnits
from labgate.compliance.canonical import canonical_json
from labgate.domain import events
from labgate.domain.batches import Batch
from labgate.domain.gates import GateDecision, GateMode, PointVerdict
from labgate.domain.numbers import RoundingRule
from labgate.domain.raw_materials import LotStatus, ReceivedLot
from labgate.domain.samples import NewResult, PlannedTest, Sample
from labgate.domain.skip_lot import InspectionState
from labgate.domain.status_map import StatusMap
from labgate.service.messages import OUTBOUND
from labgate.service.outbox.records import OutboxMessage
from labgate.service.reactions.gate_push import gate_payload
from labgate.service.reactions.messages import lot_status_message, to_lims, to_mes
from labgate.service.reactions.outbox_rows import tell_batch_disposition, tell_lot_status
from labgate.service.schema_catalog import json_schemas

GOLDEN = Path(__file__).parent / "data" / "outbound_payloads.json"
AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
# An instant with microseconds, sent with an offset: held and told in UTC.
LATER = datetime(2026, 11, 25, 11, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


class Recorder:
    """A unit of work that records the outbox rows it is sent (and knows one lot)."""

    def __init__(self, lot: ReceivedLot | None = None) -> None:
        self.sent: list[OutboxMessage] = []
        self.lot = lot

    def send(self, message: OutboxMessage) -> None:
        self.sent.append(message)

    def tracked(self, kind: type, site: str, code: str) -> ReceivedLot | None:
        return self.lot


SCOPE: Any = SimpleNamespace(ctx=SimpleNamespace(correlation_id="trace-1"))


def told(sample: Sample, steps: list[Any]) -> list[OutboxMessage]:
    """The rows to the MES and to an external LIMS after each step, in order."""
    written: list[OutboxMessage] = []
    for step in steps:
        step()
        for event in sample.events:
            written += to_mes(event, sample, "trace-1") + to_lims(event, sample, "trace-1")
        sample.events.clear()
    return written


def full_sample() -> list[OutboxMessage]:
    """Batch and lot, a conversion, an approval, a hold and its lift, an invalidation and the
    retest that supersedes it, a cancellation."""
    sample = Sample("S1", "S-000001", "P1", "SPEC", 3, AT, "mes", mes_request_id="REQ-1",
                    batch="B1", lot="L1", sampling_point="SP")  # fmt: skip
    sample.tests.append(PlannedTest("ASSAY", "M", "1", "NLT 98.0", "%", RoundingRule.USP,
                                    alert="NLT 99.0", characteristic="C-ASSAY"))  # fmt: skip
    sample.tests.append(PlannedTest("WATER", "KF", "2", "NMT 0.5", "%", RoundingRule.USP))
    units, status_map = TableUnits({("mg/g", "%"): "0.1"}), StatusMap()
    retest = NewResult("S-000001-R2", "ASSAY", "0.0000001", "mg/g", "1", "ana", "S-000001-R1")
    return told(
        sample,
        [
            lambda: sample.events.append(events.SampleRequested("S1", sample.code, AT)),
            lambda: sample.register("LIMS-42", AT),
            lambda: sample.record_result(
                NewResult("S-000001-R1", "ASSAY", "965", "mg/g", "1", "ana"), AT, units, status_map
            ),
            lambda: sample.approve_result("S-000001-R1", "rev", LATER, status_map),
            lambda: sample.events.append(
                events.BatchHeld("S1", sample.code, AT, "DEV-000001", "S-000001-R1", "OOS")
            ),
            lambda: sample.invalidate_result(
                "S-000001-R1", "rev", "Phase I: bad vial", AT, status_map
            ),
            lambda: sample.record_result(retest, AT, units, status_map),
            lambda: sample.approve_result("S-000001-R2", "rev", AT, status_map),
            lambda: sample.events.append(
                events.BatchHoldLifted("S1", sample.code, AT, "DEV-000001", "S-000001-R1", "closed")
            ),
            lambda: sample.cancel("Charge verworfen — Prüfung ✓", AT),
        ],
    )


def lot_only_sample() -> list[OutboxMessage]:
    """No MES request, no batch, no sampling point, no LIMS id; a unitless result."""
    sample = Sample("S2", "S-000002", "P2", "RM-SPEC", 1, AT, "lab", lot="L-9")
    sample.tests.append(PlannedTest("PH", "PHM", "4", "NLT 5.0", None, RoundingRule.USP))
    status_map = StatusMap()
    return told(
        sample,
        [
            lambda: sample.events.append(events.SampleRequested("S2", sample.code, AT)),
            lambda: sample.register(None, AT),
            lambda: sample.record_result(
                NewResult("S-000002-R1", "PH", "4.95", None, "4", "ana"),
                AT,
                TableUnits({}),
                status_map,
            ),
            lambda: sample.approve_result("S-000002-R1", "rev", AT, status_map),
            lambda: sample.events.append(
                events.BatchHeld("S2", sample.code, AT, "DEV-000002", "S-000002-R1", "OOS: pH")
            ),
        ],
    )


def disposition() -> list[OutboxMessage]:
    """QA released one batch and rejected another."""
    uow = Recorder()
    for verdict, at in (("released", AT), ("rejected", LATER)):
        event = events.BatchDisposed("S1", "B1", at, "P1", verdict, "qa", "QC complete",
                                     ("S-000001", "S-000003"))  # fmt: skip
        tell_batch_disposition(event, cast(Any, uow), SCOPE)
    return uow.sent


def received_lot() -> ReceivedLot:
    """A lot in quarantine."""
    return ReceivedLot("S1", "RL-1", "MAT-7", "SUP-3", "SL-88", AT, "clerk", "S-000009",
                       InspectionState.SKIPPING, True)  # fmt: skip


def lot_status() -> list[OutboxMessage]:
    """QA released a received lot."""
    lot = received_lot()
    lot.decide(LotStatus.RELEASED, "qa", LATER, "CoA and identity passed")
    uow = Recorder(lot)
    tell_lot_status(events.LotDecided("S1", "RL-1", LATER), cast(Any, uow), SCOPE)
    return uow.sent


def gates() -> list[dict[str, Any]]:
    """An operation that holds on one point, and one that may complete."""
    batch = Batch("S1", "B1", "P1", "PROC-1")
    points = (
        PointVerdict("SP-1", GateMode.BLOCK, False, "1 sample pending", ("S-1",)),
        PointVerdict("SP-2", GateMode.ALLOW_WITH_DEVIATION, True, "covered", ("S-2", "S-3")),
        PointVerdict("SP-3", GateMode.INFORMATIVE, True, "informative", ()),
    )
    return [
        gate_payload(batch, GateDecision("OP-10", False, points), LATER),
        gate_payload(batch, GateDecision("OP-20", True, points[1:]), AT),
    ]


def written() -> dict[str, list[dict[str, Any]]]:
    """Every payload, by schema id, in the order written."""
    by_schema: dict[str, list[dict[str, Any]]] = {}
    rows = full_sample() + lot_only_sample() + disposition() + lot_status()
    for message in rows:
        by_schema.setdefault(message.schema, []).append(message.payload)
    by_schema["labgate.operation_gate.v1"] = gates()
    return by_schema


def as_text(payload: dict[str, Any]) -> str:
    return canonical_json(payload).decode()


def test_every_outbound_schema_is_covered() -> None:
    assert set(written()) == set(OUTBOUND)


@pytest.mark.parametrize("schema_id", sorted(OUTBOUND))
def test_the_payloads_are_byte_for_byte_the_recorded_ones(schema_id: str) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert [as_text(p) for p in written()[schema_id]] == golden[schema_id]


@pytest.mark.requirement("URS-A11-5")
@pytest.mark.parametrize("schema_id", sorted(OUTBOUND))
def test_the_payloads_meet_their_published_json_schema(schema_id: str) -> None:
    validator = Draft202012Validator(
        json_schemas()[schema_id], format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    for payload in written()[schema_id]:
        validator.validate(payload)


def test_a_payload_that_breaks_its_schema_fails_where_it_is_made() -> None:
    # A lot not yet decided has no decider, time or reason: the message is refused when built,
    # in the transaction that would have sent it, not received by the MES with nulls.
    with pytest.raises(ValidationError, match="decided_by"):
        lot_status_message(received_lot(), "trace-1", AT)


def test_the_payloads_are_plain_json() -> None:
    for payloads in written().values():
        for payload in payloads:
            assert json.loads(json.dumps(payload)) == payload


if __name__ == "__main__":  # re-record: only when a change to a payload is meant
    recorded = {k: [as_text(p) for p in v] for k, v in sorted(written().items())}
    GOLDEN.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
