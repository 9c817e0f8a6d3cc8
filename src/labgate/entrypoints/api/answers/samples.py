"""Answers about samples and their results: the sample view, its signatures, the lists.

Each record comes in two forms. `...Record` is the read model as stored views render it (the
dossier carries these); `...View` is the same record as a person at the site reads it through
the API, with `x_at_local` beside every UTC time and `<key>_name` beside every person's user id
(`document_facts.readable`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from labgate.compliance.signatures import Meaning
from labgate.domain.deviations import DeviationState
from labgate.domain.lifecycle import ResultStatus, SampleStatus, TestStatus
from labgate.domain.limits import Band
from labgate.domain.numbers import RoundingRule
from labgate.domain.status_map import MesStatus
from labgate.entrypoints.api.wire import Answer, Code, ExactNumber, Hash, SiteTime, UtcTime

RowNumber = Annotated[int, Field(ge=1, le=2**63 - 1)]
PrintedName = Annotated[
    str | None, Field(description="The person's printed name; null for an id with no account.")
]
LocalTime = Annotated[SiteTime | None, Field(description="The same moment in the site's zone.")]


class SignatureRecord(Answer):
    """A signature as Part 11 shows it: who, when, what it means, and whether the record still
    has the content that was signed."""

    printed_name: str
    signer: str = Field(description="The signer's user id.")
    meaning: Meaning
    signed_at: UtcTime
    content_hash: Hash = Field(description="SHA-256 of the canonical content signed.")
    status: Literal["valid", "broken"] = Field(
        description="`broken`: the record changed after it was signed."
    )


class SignatureAtSite(SignatureRecord):
    """A signature, with the signer's name and the signing time as the site reads them."""

    signed_at_local: SiteTime
    signer_name: PrintedName


class PlannedTest(Answer):
    """A test planned on the sample, with what was bound when the sample was taken."""

    test_code: Code
    method: Code
    method_version: Code
    limit: str = Field(description="The limit in force, as written in the specification.")
    unit: str | None
    rounding_rule: RoundingRule
    sig_figs: int | None = Field(ge=1, le=2**31 - 1)
    alert: str | None = Field(description="The alert limit, where the specification has one.")
    action: str | None = Field(description="The action limit, where the specification has one.")
    characteristic: str | None = Field(description="The MES characteristic it answers.")
    status: TestStatus


class ResultRecord(Answer):
    """A result: the raw value as reported and every value labgate derived from it."""

    code: Code
    test_code: Code
    raw_value: str = Field(description="The value exactly as reported.")
    raw_unit: str | None = Field(description="The unit as the sender wrote it.")
    method: Code
    method_version: Code
    analyst: str = Field(description="The analyst as reported (user id).")
    entered_at: UtcTime
    limit_set: str = Field(description="The bound limits it is judged by (`SPEC-A v2: NLT 99.0`).")
    status: ResultStatus
    resolved_unit: str | None = Field(description="The dictionary unit the raw unit resolved to.")
    canonical_value: ExactNumber | None
    canonical_unit: str | None
    conversion_factor: ExactNumber | None
    reported_value: ExactNumber | None = Field(description="Rounded per method; exact, as text.")
    compared_value: ExactNumber | None = Field(description="The value compared with the limit.")
    rounding: str | None = Field(description="How the value was rounded, in words.")
    conforms: bool | None
    band: Band | None
    mes_status: MesStatus
    reviewer: str | None
    approved_at: UtcTime | None
    supersedes: str | None = Field(description="The result this one retests.")
    superseded_by: str | None = Field(description="The retest of this result.")
    invalidated_by: str | None
    invalidated_at: UtcTime | None
    invalidation_reason: str | None
    reported_by: str | None = Field(description="The system that sent it; null: entered here.")
    analyst_account: str | None = Field(description="The analyst as a labgate account.")
    reviewer_account: str | None = Field(description="The reviewer as a labgate account.")
    status_map_version: int = Field(
        ge=0,
        le=2**31 - 1,
        description="The status map its MES status was decided under (0: the one installed "
        "with the hub; N: the version a change request put in force).",
    )
    signatures: list[SignatureRecord]


class ResultView(ResultRecord):
    """A result, with its people and times as the site reads them."""

    entered_at_local: SiteTime
    approved_at_local: LocalTime
    invalidated_at_local: LocalTime
    analyst_name: PrintedName
    reviewer_name: PrintedName
    signatures: list[SignatureAtSite]  # type: ignore[assignment]


class DeviationBrief(Answer):
    """A deviation of the sample or batch in brief."""

    deviation: Code
    result: str
    state: DeviationState
    open: bool = Field(description="Still under investigation: the batch or lot is held.")


class SampleRecord(Answer):
    """A sample with its planned tests, results and signatures, and its MES status."""

    site: Code
    code: Code
    product: Code
    specification: Code
    spec_version: RowNumber
    sampled_at: UtcTime
    requested_by: str = Field(description="Who asked for it (user id: the MES, or a person).")
    mes_request_id: str | None
    batch: str | None
    lot: str | None
    equipment: str | None
    sampling_point: str | None
    container: str | None
    lims_sample_id: str | None
    status: SampleStatus
    cancel_reason: str | None
    stability_study: str | None = Field(description="The stability study it was pulled for.")
    trended: bool = Field(description="Its sampling point's results are trended (OOT checks).")
    limit_set: str = Field(description="The limit set of the bound spec version it is judged by.")
    tests: list[PlannedTest]
    results: list[ResultRecord]
    mes_status: MesStatus = Field(description="What the MES is told about the sample.")
    deviations: list[DeviationBrief]


class SampleView(SampleRecord):
    """A sample as a person at the site reads it: local times and printed names beside."""

    sampled_at_local: SiteTime
    requested_by_name: PrintedName
    results: list[ResultView]  # type: ignore[assignment]


class SampleItem(Answer):
    """A sample in a list; `GET .../samples/{code}` has its tests and results."""

    code: Code
    mes_request_id: str | None
    product: Code
    batch: str | None
    lot: str | None
    sampling_point: str | None
    specification: Code
    spec_version: RowNumber
    status: SampleStatus
    sampled_at: datetime


class ReviewItem(Answer):
    """A preliminary result waiting for a reviewer's approval."""

    result: Code
    sample: Code
    batch: str | None
    lot: str | None
    product: Code
    sampling_point: str | None
    test_code: Code
    raw_value: str = Field(description="The value exactly as reported.")
    raw_unit: str | None
    reported_value: Decimal | None = Field(description="Rounded per method; exact, as text.")
    canonical_unit: str | None
    conforms: bool | None
    band: Band | None
    analyst: str
    analyst_name: PrintedName
    entered_at: datetime
    entered_at_local: SiteTime
