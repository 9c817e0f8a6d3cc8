"""Answers about batches: the batch view with its QA disposition, the IPC gates, the review by
exception, and the lists of sites and batches."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from labgate.domain.gates import GateMode
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.status_map import MesStatus
from labgate.entrypoints.api.answers.samples import (
    DeviationBrief,
    LocalTime,
    PrintedName,
    SignatureAtSite,
    SignatureRecord,
)
from labgate.entrypoints.api.wire import Answer, Code, UtcTime

Disposition = Literal["pending", "released", "rejected"]


class BatchSample(Answer):
    """A sample of the batch and what the MES is told about it."""

    sample: Code
    status: SampleStatus
    mes_status: MesStatus


class BatchRecord(Answer):
    """A batch: its samples' MES status, the batch's, its deviations, hold and disposition."""

    site: Code
    code: Code
    product: Code
    procedure: Code
    started_at: UtcTime | None
    released_by: str | None = Field(description="QA's user id once released.")
    released_at: UtcTime | None
    samples: list[BatchSample]
    mes_status: MesStatus = Field(description="From reviewed results of live samples only.")
    deviations: list[DeviationBrief]
    on_hold: bool = Field(description="An open deviation holds the batch.")
    signatures: list[SignatureRecord]
    disposition: Disposition = Field(description="QA's decision, from its signatures.")


class BatchView(BatchRecord):
    """A batch as a person at the site reads it: local times and printed names beside."""

    started_at_local: LocalTime
    released_at_local: LocalTime
    released_by_name: PrintedName
    signatures: list[SignatureAtSite]  # type: ignore[assignment]


class GatePoint(Answer):
    """One sampling point of an operation: does it let the operation complete, and why."""

    sampling_point: Code
    gate: GateMode
    passes: bool
    why: str = Field(description="A sentence for the person at the MES.")
    samples: list[Code] = Field(description="Its live samples that decided this.")


class GateOperation(Answer):
    """An operation with sampling points: may it complete, and what it waits for."""

    operation: str = Field(description="The operation's ISA-88 path (`PROC1/UP1/OP1`).")
    may_complete: bool
    waiting_for: list[Code] = Field(description="The sampling points holding it.")
    points: list[GatePoint]


class BatchGates(Answer):
    """The IPC gates of a batch, per operation that has sampling points."""

    site: Code
    batch: Code
    operations: list[GateOperation]


# `about` of a finding: the record a review item names, under its own key (domain/disposition
# Finding.as_item); exactly one of these is present on an item.
class ReviewFinding(Answer):
    """One thing about the batch that needs a person: what kind, which record, and why."""

    kind: str = Field(
        description="result_missing, result_preliminary, result_invalidated, result_retest, "
        "result_out_of_specification, sample_cancelled, sample_not_registered, deviation_open, "
        "signature_broken, oot_alert_open, em_excursion, record_changed, audit_entry_altered, "
        "batch_without_samples, release.<blocker>…"
    )
    why: str
    sample: Code | None = None
    result: Code | None = None
    deviation: Code | None = None
    batch: Code | None = None
    alert: Code | None = None
    excursion: Code | None = None
    audit_entry: str | None = Field(None, description="The audit entry's sequence number.")


class BatchReview(Answer):
    """Review by exception: every item needing review; none means ready by exception."""

    batch: Code
    ready_by_exception: bool
    items: list[ReviewFinding]


class SiteItem(Answer):
    """A site: the namespace of every other identifier."""

    code: Code
    name: str


class SiteList(Answer):
    """The sites the caller can see, by code."""

    items: list[SiteItem]


class BatchItem(Answer):
    """A batch as a production supervisor scans them: hold and QA disposition."""

    code: Code
    product: Code
    procedure: Code
    started_at: datetime | None
    on_hold: bool
    disposition: Disposition
