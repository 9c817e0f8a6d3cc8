"""Classical mapping: the ORM is mapped onto the domain's plain dataclasses, never the reverse."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, registry, relationship

from labgate.adapters.store import children, config_store
from labgate.adapters.store import tables as t
from labgate.compliance.access import Account
from labgate.compliance.audit_review import AuditReview
from labgate.compliance.identities import PartnerIdentity
from labgate.compliance.keys import SourceKey
from labgate.compliance.notifications import Notification
from labgate.compliance.signatures import Signature
from labgate.compliance.throttle import RefusalWindow
from labgate.compliance.time_check import ClockCheck, ClockState
from labgate.domain.batches import Batch, ProceduralElement, Procedure, SamplingPoint
from labgate.domain.change_control import ChangeRequest, StatusMapVersion
from labgate.domain.channel_allow_list import ChannelAllowListVersion
from labgate.domain.data_quality import DqRuleResult, DqRun
from labgate.domain.deviations import Deviation
from labgate.domain.em_monitoring import (
    EmExcursion,
    EmLocation,
    EmPoint,
    EmRound,
    EmRoute,
    EmSample,
    EmSchedule,
    EmSiteLimit,
    RoomOccupancy,
)
from labgate.domain.gates import GateEntry, GateTold
from labgate.domain.icd import IcdVersion
from labgate.domain.masterdata import (
    Alias,
    Characteristic,
    Equipment,
    LimitLine,
    Location,
    Lot,
    Mapping,
    Material,
    MethodVersion,
    Product,
    Site,
    SpecVersion,
    TestDefinition,
    Unit,
)
from labgate.domain.raw_materials import MaterialPlan, ReceivedLot
from labgate.domain.samples import Sample
from labgate.domain.sampling import SamplingPlan
from labgate.domain.stability import StabilityPull, StabilityStudy
from labgate.domain.trending import OotAlert
from labgate.service.inbox_records import InboxMessage, QuarantineItem, StreamPosition

mapper_registry = registry()
_started = False


def start_mappers() -> None:
    """Map every domain class once per process; safe to call again."""
    global _started
    if _started:
        return
    _started = True
    m = mapper_registry.map_imperatively
    for cls, table in [
        (Site, t.sites),
        (Unit, t.units),
        (Material, t.materials),
        (Lot, t.lots),
        (Product, t.products),
        (MethodVersion, t.method_versions),
        (TestDefinition, t.test_definitions),
        (Characteristic, t.characteristics),
        (Mapping, t.mappings),
        (Alias, t.aliases),
        (Location, t.locations),
        (Equipment, t.equipment),
        (SamplingPoint, t.sampling_points),
        (Batch, t.batches),
        (Account, t.accounts),
        (RefusalWindow, t.client_refusals),
        (Notification, t.notifications),
        (SourceKey, t.source_keys),
        (PartnerIdentity, t.identity_map),
        (InboxMessage, t.inbox_messages),
        (StreamPosition, t.stream_positions),
        (QuarantineItem, t.quarantine),
        (Signature, t.signatures),
        (LimitLine, t.limit_lines),
        (ProceduralElement, t.procedural_elements),
        (Deviation, t.deviations),
        (AuditReview, t.audit_reviews),
        (GateEntry, t.gate_entries),
        (GateTold, t.gates_told),
        (ClockCheck, t.clock_checks),
        (IcdVersion, t.icd_versions),
        (ClockState, t.clock_states),
        (DqRun, t.dq_runs),
        (DqRuleResult, t.dq_rule_results),
        (MaterialPlan, t.skip_lot_plans),
        (ReceivedLot, t.received_lots),
        (StabilityStudy, t.stability_studies),
        (StabilityPull, t.stability_pulls),
        (OotAlert, t.oot_alerts),
        (EmLocation, t.em_locations),
        (EmPoint, t.em_points),
        (EmRoute, t.em_routes),
        (EmSchedule, t.em_schedules),
        (EmSiteLimit, t.em_site_limits),
        (EmRound, t.em_rounds),
        (EmSample, t.em_samples),
        (EmExcursion, t.em_excursions),
        (RoomOccupancy, t.room_occupancy),
        (ChangeRequest, t.change_requests),
        (StatusMapVersion, t.status_map_versions),
        (ChannelAllowListVersion, t.channel_allow_list_versions),
    ]:
        m(cls, table)
    m(SamplingPlan, t.sampling_plans)
    m(
        SpecVersion,
        t.spec_versions,
        properties={
            "limits": _children(LimitLine, t.limit_lines),
            "plans": _children(SamplingPlan, t.sampling_plans),
        },
    )
    m(
        Procedure,
        t.procedures,
        properties={"elements": _children(ProceduralElement, t.procedural_elements)},
    )
    # A sample's planned tests and results are mapped by hand (children.py).
    m(Sample, t.samples)
    for aggregate in (Sample, Batch, Deviation, ReceivedLot, EmSample):  # those raising events
        event.listen(aggregate, "load", _fresh_event_list)
    event.listen(Session, "do_orm_execute", children.fill_loaded)
    event.listen(Session, "before_flush", children.note_new_samples)
    event.listen(Session, "before_commit", children.write_before_commit)
    # Keys, units and aliases are cached per process: each change moves its kind's version.
    event.listen(Session, "before_flush", config_store.note_changes)


def _children(cls: type, table: Any) -> Any:
    # Children live and die with their parent and keep the order they were added in.
    return relationship(cls, order_by=table.c.id, cascade="all, delete-orphan", lazy="selectin")


def _fresh_event_list(aggregate: Any, _context: object) -> None:
    # Loading bypasses __init__, so the aggregate's pending-event list must be made here.
    aggregate.events = []
