"""Typed answers of environmental monitoring: configuration, limits, rounds and samples,
excursions and their impact, room occupancy.

A round, an EM sample and an excursion are read by people: their views carry, beside each UTC
`x_at`, its `x_at_local` in the site's zone (document_facts.readable)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from labgate.adapters.store.document_facts import PERSON_KEYS
from labgate.domain.em_limits import CleanroomGrade, EmOutcome, EmSampleType, OperationalState
from labgate.domain.em_monitoring import EmSampleStatus, Frequency
from labgate.entrypoints.api.wire import Answer, Code, Count, ExactNumber, SiteTime, UtcTime

ChangedBy = Annotated[str, Field(description="User id of who made the change.")]
PrintedName = Annotated[
    str | None, Field(description="The person's printed name; null for an id with no account.")
]
# The keys under which a round, sample or excursion names a person by user id: `<key>_name`.
EM_PEOPLE = PERSON_KEYS | {"started_by", "counted_by", "recorded_by"}


class EmLocationView(Answer):
    """A graded location and the room it belongs to."""

    site: Code
    location: Code
    grade: CleanroomGrade
    room: Code
    lookback_days: Count = Field(description="How far an impact window reaches back, in days.")
    changed_by: ChangedBy
    changed_at: UtcTime
    reason: str


class EmPointView(Answer):
    """A sampling point of one sample type."""

    site: Code
    code: Code
    location: Code
    sample_type: EmSampleType
    description: str
    alerts_to_deviation: Count = Field(description="Alerts in a row that open a deviation.")
    changed_by: ChangedBy
    changed_at: UtcTime
    reason: str


class EmRouteView(Answer):
    """A route: its points in sampling order."""

    site: Code
    code: Code
    name: str
    points: list[Code]
    changed_by: ChangedBy
    changed_at: UtcTime
    reason: str


class EmScheduleView(Answer):
    """When a route is sampled, in which operational state."""

    site: Code
    code: Code
    route: Code
    state: OperationalState
    frequency: Frequency
    next_due: UtcTime
    changed_by: ChangedBy
    changed_at: UtcTime
    reason: str


class EmConfig(Answer):
    """A site's whole EM configuration."""

    locations: list[EmLocationView]
    points: list[EmPointView]
    routes: list[EmRouteView]
    schedules: list[EmScheduleView]


class EmLimitVersion(Answer):
    """A site version of one limit cell, signed by QA."""

    site: Code
    code: Code
    grade: CleanroomGrade
    state: OperationalState
    sample_type: EmSampleType
    location: Code | None = Field(description="The location it is for; null: every location.")
    action: Count | None = Field(description="Tighter action limit; null keeps Annex 1's.")
    alert: Count | None
    effective_from: UtcTime
    reason: str
    approved_by: str
    approved_at: UtcTime


class EmLimitsInForce(Answer):
    """The limits in force for a cell at a time, the source of each, and the cell's versions."""

    grade: CleanroomGrade
    state: OperationalState
    sample_type: EmSampleType
    location: Code | None
    at: UtcTime = Field(description="The time the limits are in force at.")
    action: Count | None = Field(description="Null where the source sets no action limit.")
    action_source: str
    alert: Count | None
    alert_source: str | None
    unit: str
    version: Code | None = Field(description="The site version in force; null: Annex 1 alone.")
    notes: list[str]
    versions: list[EmLimitVersion]


class EmLimitCreated(EmLimitsInForce):
    """The cell's limits after a new site version, and that version's code."""

    created: Code


class EmSampleView(Answer):
    """An EM sample: its count, the limits applied and their source."""

    site: Code
    code: Code
    round: Code
    point: Code
    location: Code
    grade: CleanroomGrade
    state: OperationalState
    sample_type: EmSampleType
    planned_at: UtcTime
    planned_at_local: SiteTime
    status: EmSampleStatus
    sampled_at: UtcTime | None
    sampled_at_local: SiteTime | None
    count: ExactNumber | None = Field(description="CFU, or particles/m³; exact.")
    unit: str | None
    counted_by: str | None = Field(description="User id of who counted it.")
    counted_by_name: PrintedName
    counted_at: UtcTime | None
    counted_at_local: SiteTime | None
    outcome: EmOutcome | None
    action_limit: Count | None
    alert_limit: Count | None
    action_source: str | None
    alert_source: str | None
    limit_version: Code | None = Field(description="The site version applied, if any.")
    excursion: Code | None


class EmRoundView(Answer):
    """A round and its samples in route order."""

    site: Code
    code: Code
    route: Code
    schedule: Code | None = Field(description="The schedule that started it; null: by hand.")
    state: OperationalState
    planned_at: UtcTime
    planned_at_local: SiteTime
    started_by: str = Field(description="User id of who started it.")
    started_by_name: PrintedName
    started_at: UtcTime
    started_at_local: SiteTime
    samples: list[EmSampleView]


class DueRounds(Answer):
    """The rounds the scheduler's tick started."""

    started: list[Code]


class ExcursionFields(Answer):
    """An alert or action excursion and its deviation."""

    site: Code
    code: Code
    sample: Code
    point: Code
    location: Code
    room: Code
    outcome: Literal[EmOutcome.ALERT_EXCEEDED, EmOutcome.ACTION_EXCEEDED]
    count: ExactNumber
    exceeded_limit: Count
    sampled_at: UtcTime
    recorded_by: str
    recorded_at: UtcTime
    deviation: Code | None


class ExcursionItem(ExcursionFields):
    """An excursion in the list; `GET .../em/excursions/{excursion}` has its sample."""


class ExcursionView(ExcursionFields):
    """An excursion with its sample and the limits applied, as people read it."""

    sampled_at_local: SiteTime
    recorded_by_name: PrintedName
    recorded_at_local: SiteTime
    em_sample: EmSampleView


class OccupancyItem(Answer):
    """A batch in a room, as the MES reported it; `to_at` null while it is still there."""

    site: Code
    batch: Code
    location: Code
    from_at: UtcTime
    to_at: UtcTime | None
    reported_by: str
    reported_at: UtcTime


class OccupancyOfLocation(Answer):
    """Every stay reported in the location."""

    items: list[OccupancyItem]


class ImpactWindow(Answer):
    """The time the excursion may have affected its room, and what bounds each end."""

    from_: UtcTime = Field(alias="from")
    to: UtcTime
    from_basis: Literal["last_within_sample", "lookback"]
    to_basis: Literal["excursion", "now"]


class ImpactEquipment(Answer):
    """Equipment in the excursion's room."""

    code: Code
    name: str
    location: Code


class OccupancyEvidence(Answer):
    """The MES reported the batch in the room during the window."""

    via: Literal["occupancy"]
    location: Code
    from_at: UtcTime
    to_at: UtcTime | None
    reported_by: str


class SampleEvidence(Answer):
    """A sample of the batch was drawn on the room's equipment during the window."""

    via: Literal["sample"]
    sample: Code
    equipment: Code
    sampled_at: UtcTime


class ImpactBatch(Answer):
    """A batch the excursion may touch, and the evidence."""

    batch: Code
    evidence: list[Annotated[OccupancyEvidence | SampleEvidence, Field(discriminator="via")]]


class Impact(Answer):
    """The equipment and batches an excursion touches."""

    excursion: Code
    deviation: Code | None
    room: Code
    locations: list[Code]
    window: ImpactWindow
    equipment: list[ImpactEquipment]
    batches: list[ImpactBatch]
