"""Typed answers of raw materials: received lots, their supplier CoA and release, skip-lot plans.

A lot is read by people: its view carries, beside each UTC `x_at`, its `x_at_local` in the site's
zone, and beside each person id under a person key its `<key>_name` (document_facts.readable)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from labgate.adapters.store.document_facts import PERSON_KEYS
from labgate.domain.deviations import DeviationState
from labgate.domain.raw_materials import LotStatus
from labgate.domain.skip_lot import InspectionState
from labgate.domain.status_map import MesStatus
from labgate.entrypoints.api.answers.stability import PrintedName, SignatureView
from labgate.entrypoints.api.wire import Answer, Code, Count, ExactNumber, SiteTime, UtcTime

# The keys under which a lot names a person by user id: each gets `<key>_name`.
LOT_PEOPLE = PERSON_KEYS | {"received_by", "decided_by"}


# What stops a release (domain.raw_materials.release_blockers): a release is refused with it.
BlockerReason = Literal[
    "release.result_missing",
    "release.unreviewed_result",
    "release.test_pending",
    "release.test_rejected",
    "release.test_cancelled",
    "release.on_hold",
]


class LotItem(Answer):
    """A lot as received, with its draw and status."""

    code: Code
    material: Code
    supplier: Code
    supplier_lot: Code
    received_at: UtcTime
    sample: Code
    inspection_state: InspectionState = Field(description="The plan's state at receipt.")
    full_panel: bool = Field(description="Whether the lot gets every test of the spec.")
    draw: ExactNumber | None = Field(description="The random draw while skipping; else null.")
    status: LotStatus


class SupplierCoaLine(Answer):
    """The supplier's value beside labgate's limit and approved result."""

    test_code: Code
    value: str = Field(description="As the supplier printed it.")
    unit: str | None
    limit: str = Field(description="labgate's limit, as written in the specification.")
    within_limit: bool | None = Field(description="Null: not comparable (e.g. another unit).")
    flagged: bool
    note: str | None
    imported_at: UtcTime
    imported_at_local: SiteTime
    labgate_value: ExactNumber | None = Field(description="labgate's approved result.")
    labgate_unit: str | None
    difference: ExactNumber | None = Field(description="Supplier minus labgate, every digit.")


class ReleaseBlocker(Answer):
    """Why the lot cannot be released yet."""

    reason: BlockerReason = Field(description="The code a release is refused with meanwhile.")
    detail: str


class LotDeviation(Answer):
    """A deviation on the lot, in brief."""

    deviation: Code
    result: Code | None
    state: DeviationState
    open: bool


class LotView(Answer):
    """A lot: its decision and draw, its tests, what blocks release, the supplier CoA."""

    site: Code
    code: Code
    material: Code
    supplier: Code
    supplier_lot: Code
    received_at: UtcTime
    received_at_local: SiteTime
    received_by: str = Field(description="User id of who received it.")
    received_by_name: PrintedName
    sample: Code
    inspection_state: InspectionState
    full_panel: bool
    draw: ExactNumber | None
    status: LotStatus
    decided_by: str | None = Field(description="User id of QA who released or rejected it.")
    decided_by_name: PrintedName
    decided_at: UtcTime | None
    decided_at_local: SiteTime | None
    decision_reason: str | None
    supplier_coa: list[SupplierCoaLine]
    planned_tests: list[Code]
    mes_status: MesStatus
    release_blockers: list[ReleaseBlocker]
    deviations: list[LotDeviation]
    signatures: list[SignatureView]


class SkipLotPlanView(Answer):
    """An SkSP-2 plan: parameters, running state, and every lot it decided, oldest first."""

    material: Code
    supplier: Code
    specification: Code
    identity_tests: list[Code]
    clearance: Count = Field(description="Accepted lots in a row before skipping (i).")
    fraction: ExactNumber = Field(description="Share of lots inspected while skipping (f).")
    state: InspectionState
    consecutive_accepted: Count
    changed_by: str
    changed_at: UtcTime
    reason: str
    site: Code
    lots: list[LotItem]
