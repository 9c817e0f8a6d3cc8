"""IPC gates told to the MES as they change (`labgate.operation_gate.v1`).

A change to a sample drawn at a sampling point (requested, result approved or invalidated,
cancelled, covered by a deviation) can change whether its operation may complete. At commit, once
per batch the transaction touched, the gate entries of its changed samples are brought up to
date, the operations they sit in are decided again from their points' sample counts, and the MES
is told only when a decision differs from the last one it was told (never told: free to
complete), in the same transaction as the change (promise 1). Only then are the samples loaded,
for the message to say what the operation waits for.

The batch row is locked before deciding: two transactions changing samples of one operation at
once would each decide from the other's stale view, and the MES could be left holding an
operation that may complete. With the lock they decide in turn, the second seeing what the first
committed. A transaction that moved no sample's part in the gate (a result on a sample still
Pending) has nothing to decide and takes no lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from uuid6 import uuid7

from labgate.domain import events
from labgate.domain.batches import Batch, Procedure, SamplingPoint
from labgate.domain.gates import (
    GateDecision,
    GateEntry,
    GateSample,
    GateTold,
    gate_mode,
    operation_gate,
    operation_of,
    waiting_points,
)
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.samples import Sample
from labgate.service.messages import GatePointV1, OperationGateV1
from labgate.service.outbox.records import MES, OutboxMessage

if TYPE_CHECKING:
    from labgate.service.unit_of_work import UnitOfWork

SCHEMA = "labgate.operation_gate.v1"
# The events after which a sample's part in its operation's gate may differ.
GATE_EVENTS = (
    events.SampleRequested,
    events.ResultApproved,
    events.ResultInvalidated,
    events.SampleCancelled,
    events.BatchHeld,
    events.BatchHoldLifted,
)


@dataclass
class Touched:
    """One batch's changed samples in this transaction, and the correlation id of the last
    message that changed it (the gate message carries it on)."""

    correlation_id: str | None
    samples: dict[str, Sample] = field(default_factory=dict)
    # A deviation opened or closed on the batch: a Rejected sample's cover may have changed
    # though no sample's status did.
    cover_changed: bool = False


class GateWatch:
    """The batches a transaction changed samples of at their sampling points."""

    def __init__(self) -> None:
        self.batches: dict[tuple[str, str], Touched] = {}

    def saw(self, sample: Sample, event: events.Event, correlation_id: str | None) -> None:
        """Note `sample` if `event` may move its operation's gate."""
        if sample.batch is None or sample.sampling_point is None:
            return
        if not isinstance(event, GATE_EVENTS):
            return
        touched = self.batches.setdefault((sample.site, sample.batch), Touched(correlation_id))
        touched.correlation_id = correlation_id
        touched.samples[sample.code] = sample
        touched.cover_changed |= isinstance(event, events.BatchHeld | events.BatchHoldLifted)


def tell_gate_changes(uow: UnitOfWork, watch: GateWatch, now: datetime) -> None:
    """Keep the gate entries of the watched samples and tell the MES what changed."""
    kept = _kept_entries(uow, watch)
    for (site, batch_code), touched in sorted(watch.batches.items()):
        known = {code: kept[site, code] for code in touched.samples if (site, code) in kept}
        moved = [s for s in touched.samples.values() if _moved(s, known.get(s.code))]
        if not (moved or touched.cover_changed):
            continue  # every sample's part in the gate is what it was: so is every decision
        batch = uow.records.get(Batch, site=site, code=batch_code)  # locked: see the docstring
        if batch is None:
            continue
        _keep_entries(uow, batch_code, moved, known)
        points = uow.records.find(SamplingPoint, site=site, procedure=batch.procedure)
        changed = {s.sampling_point for s in touched.samples.values()}
        operations = sorted({operation_of(p) for p in points if p.code in changed})
        inside = [p.code for p in points if operation_of(p) in operations]
        tallies = uow.gate_tallies(site, batch_code, inside)
        modes = {p.code: gate_mode(p.gate, f"sampling point {p.code}") for p in points}
        told = uow.last_told(site, batch_code, operations)
        procedure: Procedure | None = None
        drawn: list[GateSample] | None = None
        for operation in operations:
            waiting = waiting_points(operation, points, modes, tallies)
            last = told.get(operation)
            # An MES holds an operation only when told to: until then it may complete. Only a
            # decision to tell needs the samples and the procedure's tree (the message says
            # what waits; the tree, ~0.7 ms to load, checks the operation is in it).
            if (last is None and waiting) or (last is not None and not last.tells(waiting)):
                if drawn is None:
                    procedure = uow.records.get(Procedure, site=site, code=batch.procedure)
                    drawn = uow.gate_samples(site, batch_code, inside)
                if procedure is None:
                    break
                decision = operation_gate(procedure, operation, points, modes, drawn)
                _tell(uow, batch, decision, touched.correlation_id, now)
    watch.batches.clear()


def _kept_entries(uow: UnitOfWork, watch: GateWatch) -> dict[tuple[str, str], GateEntry]:
    """The watched samples' gate entries, one query per site for every batch of the
    transaction (a group of fifty results on fifty batches read them fifty times, ~8 % of the
    REST intake's CPU). Entries are not locked: only a change to their own sample, which this
    transaction holds, moves them."""
    codes: dict[str, set[str]] = {}
    for (site, _batch), touched in watch.batches.items():
        codes.setdefault(site, set()).update(touched.samples)
    return {
        (site, entry.sample): entry
        for site, samples in sorted(codes.items())
        for entry in uow.records.find_any(GateEntry, "sample", sorted(samples), site=site)
    }


def _moved(sample: Sample, entry: GateEntry | None) -> bool:
    """Has the sample's part in its gate changed since its entry was kept (or is it new)?"""
    cancelled = sample.status is SampleStatus.CANCELLED
    return entry is None or (entry.mes_status, entry.cancelled) != (sample.mes_status, cancelled)


def _keep_entries(
    uow: UnitOfWork, batch: str, moved: list[Sample], known: dict[str, GateEntry]
) -> None:
    """Bring the moved samples' gate entries up to date (after the batch lock: rows are locked
    batch first, then its entries, whoever locks them)."""
    for sample in moved:
        status, cancelled = sample.mes_status, sample.status is SampleStatus.CANCELLED
        entry = known.get(sample.code)
        if entry is None:
            entry = GateEntry(sample.site, batch, sample.sampling_point or "", sample.code, status)
            uow.records.add(entry)
        entry.mes_status, entry.cancelled = status, cancelled


def _tell(
    uow: UnitOfWork,
    batch: Batch,
    decision: GateDecision,
    correlation_id: str | None,
    now: datetime,
) -> None:
    message_id = str(uuid7())
    waiting = ",".join(decision.waiting_for)
    uow.records.add(
        GateTold(
            batch.site,
            batch.code,
            decision.operation,
            decision.may_complete,
            waiting,
            now,
            message_id,
        )
    )
    uow.send(
        OutboxMessage(
            batch.site,
            MES,
            "operation_gate",
            SCHEMA,
            message_id,
            correlation_id,
            f"{batch.code}:{decision.operation}",
            gate_payload(batch, decision, now),
            now,
        )
    )


def gate_payload(batch: Batch, decision: GateDecision, at: datetime) -> dict[str, Any]:
    """To the MES: may the operation complete, and if not, what it waits for (the JSON form of
    its model, built and so validated here)."""
    points = [GatePointV1(**p.summary()) for p in decision.points]  # as the API shows each point
    gate = OperationGateV1(
        site=batch.site,
        batch=batch.code,
        product=batch.product,
        procedure=batch.procedure,
        operation=decision.operation,
        may_complete=decision.may_complete,
        hold="off" if decision.may_complete else "on",
        waiting_for=list(decision.waiting_for),
        points=points,
        decided_at=at,
    )
    return gate.model_dump(mode="json")
