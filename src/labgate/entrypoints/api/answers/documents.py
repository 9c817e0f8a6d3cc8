"""The batch's printed documents: the JSON they are made from (`format=json`) for the
Certificate of Analysis and the batch dossier (each with `content_sha256` over everything else in
it), and how the OpenAPI documents their PDF, HTML and JSON answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from labgate.domain.batches import Level
from labgate.domain.gates import GateMode
from labgate.domain.shelf_life import MAX_SHELF_LIFE_MONTHS
from labgate.domain.status_map import MesStatus
from labgate.entrypoints.api.answers.batches import BatchReview, Disposition, ReviewFinding
from labgate.entrypoints.api.answers.deviations import DeviationRecord
from labgate.entrypoints.api.answers.samples import ResultRecord, SampleRecord, SignatureRecord
from labgate.entrypoints.api.wire import Answer, Code, Count, Hash, UtcTime

IsoDate = str  # `2026-11-02`: a calendar day in the site's zone

People = dict[str, str]  # printed name by user id, for everyone the document names


class Conclusion(Answer):
    """Whether the batch conforms, as the certificate states it."""

    conforms: bool
    statement: str


class CertifiedTest(Answer):
    """One test line of the certificate: the approved result and its signatures."""

    test_code: Code
    method: Code
    method_version: Code
    limit: str
    result: str = Field(description="The reported value (exact, as text), or the text result.")
    unit: str | None
    conforms: bool | None
    result_code: Code
    analyst: str
    reviewer: str | None
    approved_at: UtcTime | None
    retest_of: str | None
    signatures: list[SignatureRecord]


class CertifiedSample(Answer):
    """A live sample of the batch on the certificate."""

    sample: Code
    sampling_point: str | None
    sampled_at: UtcTime
    specification: str = Field(description="The bound spec version (`SPEC-A v2`).")
    lims_sample_id: str | None
    tests: list[CertifiedTest]


class Certificate(Answer):
    """The Certificate of Analysis of a batch, from approved results only."""

    document: Literal["Certificate of Analysis"]
    site: Code
    batch: Code
    product: Code
    product_name: str | None
    procedure: Code
    specifications: list[str]
    released_by: str | None
    released_at: UtcTime | None
    samples: list[CertifiedSample]
    conclusion: Conclusion
    release_signatures: list[SignatureRecord]
    time_zone: str = Field(description="The site's IANA zone the document shows times in.")
    people: People
    manufactured_on: IsoDate | None = Field(description="The day the batch started, site zone.")
    shelf_life_months: int | None = Field(
        ge=1,
        le=MAX_SHELF_LIFE_MONTHS,
        description="The product's shelf life in master data; null when it has none.",
    )
    expires_on: IsoDate | None = Field(
        description="The date of manufacture plus the shelf life in calendar months (a day the "
        "month lacks: its last day); null when either is not known."
    )
    content_sha256: Hash


class Provenance(Answer):
    """A result's chain as the dossier prints it: raw, converted, rounded, evaluated."""

    raw: str
    converted: str | None
    rounded: str | None
    evaluated: str | None


class DossierResult(ResultRecord):
    """A result in the dossier, with its provenance."""

    provenance: Provenance


class DossierSample(SampleRecord):
    """A sample in the dossier, each result with its provenance."""

    results: list[DossierResult]  # type: ignore[assignment]


# An ISA-88 level by its number (domain/batches.Level), bounded like every integer answered.
LevelNumber = Annotated[
    int,
    Field(
        ge=int(min(Level)),
        le=int(max(Level)),
        description=", ".join(f"{m.value} {m.name.lower()}" for m in Level),
        json_schema_extra={"enum": [m.value for m in Level]},
    ),
]


class Element(Answer):
    """One ISA-88 node of the procedure."""

    path: str
    level: LevelNumber
    name: str


class PointRecord(Answer):
    """A sampling point of the procedure, as master data has it."""

    site: Code
    code: Code
    procedure: Code
    phase_path: str
    sample_type: str
    gate: GateMode
    trended: bool


class ProcedureRecord(Answer):
    """The batch's procedure and its sampling points."""

    code: Code
    elements: list[Element]
    sampling_points: list[PointRecord]


class DispositionRecord(Answer):
    """QA's decision on the batch and who took it, when and why."""

    state: Disposition
    by: str | None
    at: UtcTime | None
    reason: str | None
    signatures: list[SignatureRecord]
    on_hold: bool
    mes_status: MesStatus


class AuditExcerptEntry(Answer):
    """One audit entry of the batch's timeline."""

    seq: Count
    at: UtcTime
    actor: str
    action: str
    record_type: str
    record_id: str
    # The recorded change itself: the record as it stood before and after, any record type's
    # shape; genuinely open (the audit trail keeps whatever the record held).
    before: Any
    after: Any
    reason: str | None
    hash: Hash


class AuditExcerpt(Answer):
    """The batch's audit entries and whether the trail verifies."""

    entries: list[AuditExcerptEntry]
    seals_verify: bool
    chain_verifies: bool


class Dossier(Answer):
    """The batch dossier: procedure, samples with provenance, deviations, disposition, review,
    what changed after entry, and the audit excerpt."""

    document: Literal["Batch dossier"]
    site: Code
    batch: Code
    product: Code
    product_name: str | None
    started_at: UtcTime | None
    procedure: ProcedureRecord
    samples: list[DossierSample]
    deviations: list[DeviationRecord]
    disposition: DispositionRecord
    release_blockers: list[ReviewFinding]
    review: BatchReview
    changed_after_entry: list[ReviewFinding]
    data_statement: str
    audit: AuditExcerpt
    time_zone: str = Field(description="The site's IANA zone the document shows times in.")
    people: People
    content_sha256: Hash


def document_responses(what: str, json_model: type[Answer]) -> dict[int | str, dict[str, Any]]:
    """The 200 answer of a printed document by its `format`: PDF (the default), HTML, or the
    JSON it is printed from; `Repr-Digest` carries the SHA-256 of the bytes."""
    digest = {
        "description": "SHA-256 of the answer's bytes (RFC 9530): `sha-256=:<base64>:`.",
        "schema": {"type": "string"},
    }
    return {
        200: {
            "model": json_model,
            "description": f"The {what}: PDF (`format=pdf`, the default), HTML or JSON.",
            "headers": {"Repr-Digest": digest},
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "text/html": {"schema": {"type": "string"}},
            },
        }
    }
