"""IPC gates of a batch as the MES asks for them: per operation with sampling points, may it
complete, and what each point is waiting for."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.domain.batches import Batch, Procedure, SamplingPoint
from labgate.domain.deviations import Deviation
from labgate.domain.errors import NotFound
from labgate.domain.gates import (
    GateDecision,
    GateSample,
    GateTold,
    PointTally,
    gate_mode,
    operation_gate,
    operation_of,
)
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.samples import Sample
from labgate.domain.status_map import MesStatus


def batch_gates(session: Session, site: str, code: str) -> dict[str, Any]:
    """Every operation of the batch's procedure that has sampling points, with its decision."""
    batch = session.scalars(select(Batch).filter_by(site=site, code=code)).one_or_none()
    if batch is None:
        raise NotFound(f"No batch {code} in site {site}.", reason="batch.unknown", field="batch")
    procedure = session.scalars(select(Procedure).filter_by(site=site, code=batch.procedure)).one()
    query = select(SamplingPoint).filter_by(site=site, procedure=batch.procedure)
    points = list(session.scalars(query))
    samples = [
        s
        for s in session.scalars(select(Sample).filter_by(site=site, batch=code))
        if s.status is not SampleStatus.CANCELLED and s.sampling_point is not None
    ]
    covering: dict[str, str] = {}
    for deviation in session.scalars(select(Deviation).filter_by(site=site, batch=code)):
        covering.setdefault(deviation.sample, deviation.code)
    drawn = [
        GateSample(s.code, s.sampling_point or "", s.mes_status, covering.get(s.code))
        for s in samples
    ]
    modes = {p.code: gate_mode(p.gate, f"sampling point {p.code}") for p in points}
    operations = sorted({operation_of(p) for p in points})
    decisions = [operation_gate(procedure, op, points, modes, drawn) for op in operations]
    return {"site": site, "batch": code, "operations": [decision_view(d) for d in decisions]}


def decision_view(decision: GateDecision) -> dict[str, Any]:
    """A gate decision as the API and the MES message show it."""
    return {
        "operation": decision.operation,
        "may_complete": decision.may_complete,
        "waiting_for": list(decision.waiting_for),
        "points": [{**p.summary(), "samples": list(p.samples)} for p in decision.points],
    }


_MES_STATUS = {status.value: status for status in MesStatus}  # a dict: Enum(value) is slow


def deciding_samples(
    session: Session, site: str, batch: str, points: Collection[str]
) -> list[GateSample]:
    """The samples that decide the gates of these points: every live one not Accepted, and one
    Accepted per point (Accepted samples pass; the gate needs to know only that one was
    drawn). Light rows, so a point with many samples does not load them with their results."""
    session.flush()  # the entries this transaction changed
    e = t.gate_entries.c
    live = _live(site, batch, points)
    undecided = select(e.sample, e.sampling_point, e.mes_status).where(
        live & (e.mes_status != MesStatus.ACCEPTED.value)
    )
    accepted = (
        select(func.min(e.sample), e.sampling_point, func.min(e.mes_status))
        .where(live & (e.mes_status == MesStatus.ACCEPTED.value))
        .group_by(e.sampling_point)
    )
    d = t.deviations.c
    covering: dict[str, str] = {}
    query = select(d.sample, d.code).where(d.site == site, d.batch == batch).order_by(d.id)
    for sample, code in session.execute(query):
        covering.setdefault(sample, code)
    rows = [*session.execute(undecided), *session.execute(accepted)]
    return [
        GateSample(sample, point, _MES_STATUS[status], covering.get(sample))
        for sample, point, status in rows
    ]


def point_tallies(
    session: Session, site: str, batch: str, points: Collection[str]
) -> dict[str, PointTally]:
    """Each point's live samples counted by MES status, and its Rejected ones no deviation
    covers; counted by the database, so no sample row is loaded however many a batch holds."""
    session.flush()  # the entries this transaction changed
    e, d = t.gate_entries.c, t.deviations.c
    live = _live(site, batch, points)
    counts: dict[str, dict[MesStatus, int]] = {p: {} for p in points}
    query = select(e.sampling_point, e.mes_status, func.count()).where(live)
    for point, status, number in session.execute(query.group_by(e.sampling_point, e.mes_status)):
        counts[point][_MES_STATUS[status]] = number
    uncovered: dict[str, int] = {}
    if any(MesStatus.REJECTED in by_status for by_status in counts.values()):
        covered = exists().where(d.site == e.site, d.batch == e.batch, d.sample == e.sample)
        rejected = live & (e.mes_status == MesStatus.REJECTED.value) & ~covered
        query = select(e.sampling_point, func.count()).where(rejected)
        uncovered = {
            point: number for point, number in session.execute(query.group_by(e.sampling_point))
        }
    return {
        point: PointTally(
            sum(by_status.values()),
            by_status.get(MesStatus.PENDING, 0),
            by_status.get(MesStatus.REJECTED, 0),
            uncovered.get(point, 0),
        )
        for point, by_status in counts.items()
    }


def last_told(
    session: Session, site: str, batch: str, operations: Collection[str]
) -> dict[str, GateTold]:
    """What the MES was last told of each operation: its newest row, found by the index on
    (site, batch, operation, id), so no transaction reads the gate's whole history."""
    g = t.gates_told.c
    newest = (
        select(func.max(g.id))
        .where(g.site == site, g.batch == batch, g.operation.in_(list(operations)))
        .group_by(g.operation)
    )
    found = session.scalars(select(GateTold).where(g.id.in_(newest)))
    return {told.operation: told for told in found}


def _live(site: str, batch: str, points: Collection[str]) -> Any:
    """The batch's gate entries at these points whose samples are not cancelled."""
    e = t.gate_entries.c
    return (
        (e.site == site)
        & (e.batch == batch)
        & e.sampling_point.in_(list(points))
        & (e.cancelled.is_(False))
    )
