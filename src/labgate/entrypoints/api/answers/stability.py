"""Typed answers of stability studies and out-of-trend alerts.

A study and an alert are read by people: their views carry, beside each UTC `x_at`, its
`x_at_local` in the site's zone, and beside each person id under a person key its `<key>_name`
(document_facts.readable)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from labgate.adapters.q1e_shelf_life import Model
from labgate.adapters.store.document_facts import PERSON_KEYS
from labgate.compliance.signatures import Meaning
from labgate.domain.stability import StudyStatus
from labgate.domain.trending import AlertStatus
from labgate.entrypoints.api.wire import Answer, Code, Count, ExactNumber, Hash, SiteTime, UtcTime

PrintedName = Annotated[
    str | None, Field(description="The person's printed name; null for an id with no account.")
]
# The keys under which a study or an alert names a person by user id: each gets `<key>_name`.
STABILITY_PEOPLE = PERSON_KEYS | {"author", "approver", "pulled_by", "raised_by", "acknowledged_by"}


class SignatureView(Answer):
    """An e-signature as Part 11 shows it, and whether the record still has what was signed."""

    printed_name: str
    signer: str = Field(description="The signer's user id.")
    signer_name: PrintedName
    meaning: Meaning
    signed_at: UtcTime
    signed_at_local: SiteTime
    content_hash: Hash = Field(description="SHA-256 of the signed content.")
    status: Literal["valid", "broken"] = Field(
        description="`broken` when the record no longer has the content that was signed."
    )


class Criterion(Answer):
    """A trended test's acceptance criterion: lower and/or upper limit, exact."""

    lower: ExactNumber | None
    upper: ExactNumber | None


class PlannedPull(Answer):
    """A scheduled pull not done yet: planned, due (its window is open) or overdue."""

    condition: str
    time_point: Count = Field(description="Months from t=0.")
    due_at: UtcTime
    due_at_local: SiteTime
    state: Literal["planned", "due", "overdue"]


class DonePull(Answer):
    """A scheduled pull done, with the sample it made."""

    condition: str
    time_point: Count = Field(description="Months from t=0.")
    due_at: UtcTime
    due_at_local: SiteTime
    state: Literal["pulled"]
    sample: Code
    pulled_by: str = Field(description="User id of who pulled it.")
    pulled_by_name: PrintedName
    pulled_at: UtcTime
    pulled_at_local: SiteTime
    window_reason: str | None = Field(description="Why it was pulled outside its window.")


ScheduledPull = Annotated[PlannedPull | DonePull, Field(discriminator="state")]


class StudyView(Answer):
    """A study: protocol, lifecycle, every scheduled pull with its state, and signatures."""

    site: Code
    code: Code
    product: Code
    batch: Code
    conditions: list[str] = Field(description="Storage conditions; the first is long-term.")
    time_points: dict[str, list[Count]] = Field(description="Months of the pulls, by condition.")
    tests: list[Code]
    criteria: dict[str, Criterion] = Field(description="Acceptance criterion, by test code.")
    start_at: UtcTime
    start_at_local: SiteTime
    window_days: Count = Field(description="Pull window, days either side of the due date.")
    author: str = Field(description="User id of the protocol's author.")
    author_name: PrintedName
    created_at: UtcTime
    created_at_local: SiteTime
    status: StudyStatus
    approver: str | None = Field(description="User id of the QA approver.")
    approver_name: PrintedName
    approved_at: UtcTime | None
    approved_at_local: SiteTime | None
    closed_by: str | None = Field(description="User id of who completed or cancelled it.")
    closed_by_name: PrintedName
    closed_at: UtcTime | None
    closed_at_local: SiteTime | None
    close_reason: str | None
    schedule: list[ScheduledPull]
    signatures: list[SignatureView]


class StudyItem(Answer):
    """A study in the list; `GET .../stability-studies/{study}` has its schedule."""

    code: Code
    product: Code
    batch: Code
    status: StudyStatus
    conditions: list[str]
    start_at: UtcTime


class PullAnswer(Answer):
    """The sample a pull made, and the study after it."""

    sample: Code
    study: StudyView


class SkippedPull(Answer):
    """A due pull whose window has closed: left for a person, who must give a reason."""

    study: Code
    condition: str
    time_point: str = Field(description="Months from t=0, as text.")
    reason: Literal["stability.pull_outside_window"]
    detail: str


class PullDueAnswer(Answer):
    """What the scheduler's run pulled (sample codes) and what it left for a person."""

    pulled: list[Code]
    skipped: list[SkippedPull]


class TrendPoint(Answer):
    """An approved result of a pull: batch, months, value (exact)."""

    batch: Code
    study: Code
    time: Count = Field(description="Months from t=0.")
    sample: Code
    value: ExactNumber


class BatchLine(Answer):
    """One batch's regression line and the shelf life it supports."""

    batch: Code
    intercept: ExactNumber | None
    slope: ExactNumber | None
    shelf_life: ExactNumber | None = Field(description="Months.")


class ShelfLifeEstimate(Answer):
    """The ICH Q1E estimate as printed: text numbers at the report's precision."""

    model: Model = Field(description="Poolability: cics, dics or dids.")
    p_slopes: ExactNumber | None
    p_intercepts: ExactNumber | None
    shelf_life: ExactNumber | None = Field(description="Months.")
    proposed_shelf_life: ExactNumber | None = Field(description="Months Q1E lets one propose.")
    determined_by: str | None = Field(description="The batch whose line sets the shelf life.")
    data_span: ExactNumber | None = Field(description="Months covered by data.")
    extrapolation_limit: ExactNumber | None = Field(description="Months.")
    reason: str | None
    batches: list[BatchLine]


class SeriesWithEstimate(Answer):
    """A test at a condition whose data carry a Q1E estimate."""

    test_code: Code
    condition: str
    criterion: Criterion
    points: list[TrendPoint]
    shelf_life: ShelfLifeEstimate


class SeriesWithoutEstimate(Answer):
    """A test at a condition whose data carry no estimate yet, and why."""

    test_code: Code
    condition: str
    criterion: Criterion
    points: list[TrendPoint]
    shelf_life: None
    no_estimate: str = Field(description="Why there is no estimate yet.")


class TrendView(Answer):
    """Per test and condition, the approved results of every batch of the product on it."""

    site: Code
    study: Code
    product: Code
    batch: Code
    long_term_condition: str
    series: list[SeriesWithEstimate | SeriesWithoutEstimate]


class ReportTest(Answer):
    """One test of the shelf-life report: estimate, data and plot."""

    test_code: Code
    criterion: Criterion
    estimate: ShelfLifeEstimate
    data: list[TrendPoint]
    plot_png: str = Field(description="The Q1E plot, PNG, base64.")
    plot_sha256: Hash


class StabilityReport(Answer):
    """The shelf-life report as data (`format=json`): canonical JSON (RFC 8785)."""

    site: Code
    study: Code
    product: Code
    batch: Code
    condition: str = Field(description="The long-term condition the report covers.")
    tests: list[ReportTest]
    method: str
    content_sha256: Hash


class AlertFields(Answer):
    """What an out-of-trend alert records: the chart's numbers, exact, and who assessed it."""

    site: Code
    code: Code
    kind: Literal["stability", "ipc"]
    result: Code
    sample: Code
    batch: Code | None
    test_code: Code
    series: str = Field(description="What was trended: study condition, or sampling point.")
    time: ExactNumber = Field(description="Months (stability) or batch position (ipc).")
    value: ExactNumber
    predicted: ExactNumber
    lower: ExactNumber = Field(description="Lower bound of the prediction interval.")
    upper: ExactNumber = Field(description="Upper bound of the prediction interval.")
    alpha: ExactNumber
    method: str
    history_size: Count
    raised_at: UtcTime
    raised_by: str
    analyst: str = Field(description="User id of the result's analyst.")
    status: AlertStatus
    acknowledged_by: str | None
    acknowledged_at: UtcTime | None
    assessment: str | None


class AlertItem(AlertFields):
    """An alert in the list; `GET .../oot-alerts/{alert}` has its signature."""


class AlertView(AlertFields):
    """An alert with its signed assessment, as people read it."""

    raised_at_local: SiteTime
    raised_by_name: PrintedName
    analyst_name: PrintedName
    acknowledged_by_name: PrintedName
    acknowledged_at_local: SiteTime | None
    signatures: list[SignatureView]
