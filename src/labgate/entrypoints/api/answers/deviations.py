"""Answers about deviations: an OOS investigation or an EM excursion's, its steps and their
signatures, and the list. The phase conclusions are the server's own enums."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from labgate.domain.deviations import DeviationState, PhaseOneConclusion, PhaseTwoConclusion
from labgate.domain.lifecycle import ResultStatus
from labgate.entrypoints.api.answers.samples import (
    LocalTime,
    PrintedName,
    SignatureAtSite,
    SignatureRecord,
)
from labgate.entrypoints.api.wire import Answer, Code, SiteTime, UtcTime


class DeviationFields(Answer):
    """What every deviation records: what it is about, and each step's who, when and why."""

    site: Code
    code: Code
    sample: Code
    result: str = Field(description="The result it investigates (an EM deviation: its sample).")
    test_code: str
    analyst: str = Field(description="Who reported the result (user id).")
    batch: str | None
    lot: str | None
    opened_at: UtcTime
    opened_by: str
    reason: str = Field(description="Why it was opened.")
    state: DeviationState
    phase1_conclusion: PhaseOneConclusion | None
    phase1_by: str | None
    phase1_at: UtcTime | None
    phase1_reason: str | None
    phase2_conclusion: PhaseTwoConclusion | None
    phase2_by: str | None
    phase2_at: UtcTime | None
    phase2_reason: str | None = Field(description="Phase II's rationale.")
    capa: str | None = Field(description="The CAPA reference QA closed it with.")
    closed_by: str | None
    closed_at: UtcTime | None
    closure_reason: str | None
    open: bool = Field(description="Still under investigation: its batch or lot is held.")
    signatures: list[SignatureRecord] = Field(description="One per signed step, in order.")


class OosRecord(DeviationFields):
    """An OOS investigation of one rejected result."""

    kind: Literal["oos"]
    result_status: ResultStatus
    retest: str | None = Field(description="The retest that superseded the result.")


class Occupancy(Answer):
    """The MES reported the batch in the room during the excursion's window."""

    via: Literal["occupancy"]
    location: Code
    from_at: UtcTime
    to_at: UtcTime | None
    reported_by: str


class SampleOnEquipment(Answer):
    """A sample of the batch was drawn on the room's equipment during the window."""

    via: Literal["sample"]
    sample: Code
    equipment: Code
    sampled_at: UtcTime


class OccupancyView(Occupancy):
    """Occupancy evidence with its times in the site's zone."""

    from_at_local: SiteTime
    to_at_local: LocalTime


class SampleOnEquipmentView(SampleOnEquipment):
    """Sample evidence with its time in the site's zone."""

    sampled_at_local: SiteTime


class ExcursionWindow(Answer):
    """When the excursion may have reached the room, and on what each bound rests."""

    from_: UtcTime = Field(alias="from")
    to: UtcTime
    from_basis: str
    to_basis: str


class RoomEquipment(Answer):
    """Equipment in the excursion's room."""

    code: Code
    name: str
    location: Code


class ImpactedBatch(Answer):
    """A batch the excursion may have reached, and the evidence."""

    batch: Code
    evidence: list[Annotated[Occupancy | SampleOnEquipment, Field(discriminator="via")]]


class ImpactedBatchAtSite(ImpactedBatch):
    """A batch the excursion may have reached, its evidence timed in the site's zone."""

    evidence: list[  # type: ignore[assignment]
        Annotated[OccupancyView | SampleOnEquipmentView, Field(discriminator="via")]
    ]


class ExcursionImpact(Answer):
    """The excursion's room, window, equipment and the batches it may have reached."""

    excursion: Code
    deviation: str | None
    room: Code
    locations: list[Code]
    window: ExcursionWindow
    equipment: list[RoomEquipment]
    batches: list[ImpactedBatch]


class ExcursionImpactAtSite(ExcursionImpact):
    """The impact, its evidence timed in the site's zone."""

    batches: list[ImpactedBatchAtSite]  # type: ignore[assignment]


class EmRecord(DeviationFields):
    """The deviation an environmental-monitoring excursion opens: no lab result to retest."""

    kind: Literal["em_excursion"]
    excursion: str | None
    impact: ExcursionImpact | None


class DqRecord(DeviationFields):
    """The deviation a data-quality rule's breach opens: `sample` is the rule's id,
    `test_code` its dimension; closing it needs a CAPA reference. GET /api/v1/dq/runs lists
    the runs that found the breach."""

    kind: Literal["data_quality"]


class DeviationReading(Answer):
    """The local times and printed names a person at the site reads beside the record."""

    opened_at_local: SiteTime
    phase1_at_local: LocalTime
    phase2_at_local: LocalTime
    closed_at_local: LocalTime
    analyst_name: PrintedName
    phase1_by_name: PrintedName
    phase2_by_name: PrintedName
    closed_by_name: PrintedName
    signatures: list[SignatureAtSite]


class OosView(DeviationReading, OosRecord):
    """An OOS deviation as a person at the site reads it."""


class EmView(DeviationReading, EmRecord):
    """An EM deviation as a person at the site reads it."""

    impact: ExcursionImpactAtSite | None


class DqView(DeviationReading, DqRecord):
    """A data-quality deviation as a person at the site reads it."""


DeviationRecord = Annotated[OosRecord | EmRecord | DqRecord, Field(discriminator="kind")]
DeviationView = Annotated[OosView | EmView | DqView, Field(discriminator="kind")]


class DeviationItem(Answer):
    """A deviation in a list; `GET .../deviations/{code}` has its steps and signatures."""

    code: Code
    kind: Literal["oos", "em_excursion", "data_quality"]
    state: DeviationState
    sample: Code
    result: str
    batch: str | None
    lot: str | None
    opened_at: datetime
    capa: str | None
