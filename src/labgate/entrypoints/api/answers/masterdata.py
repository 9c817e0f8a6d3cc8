"""The answers of master data: an import's counts, the exported document, a specification
version with its signatures."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from labgate.compliance.signatures import Meaning
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import AliasSystem
from labgate.domain.numbers import RoundingRule
from labgate.entrypoints.api.wire import Answer, Code, Count, Hash, UtcTime

Gate = Literal["block", "allow_with_deviation", "informative"]
INT32_MAX = 2**31 - 1  # the store's integer columns
Version = Annotated[int, Field(ge=1, le=INT32_MAX, description="A version's number.")]
Level = Literal["procedure", "unit_procedure", "operation", "phase"]


class SectionCounts(Answer):
    """How many records of one section the import created, updated or left unchanged."""

    created: Count
    updated: Count
    unchanged: Count


class ImportCounts(Answer):
    """What one import did, per section of the document (sections it left out are absent)."""

    sections: dict[str, SectionCounts] = Field(
        description="By section name (`site`, `units`, `tests`, `specifications`…)."
    )


class SiteEntry(Answer):
    """The site: its code, name and IANA time zone."""

    code: Code
    name: str
    time_zone: str | None


class UnitEntry(Answer):
    """A unit of the (global) unit dictionary."""

    code: Code
    expression: str
    precision: int = Field(ge=0, le=INT32_MAX, description="Decimal places it is shown to.")
    kind: str = Field(description="What it measures; values convert only within one kind.")
    name: str


class MaterialEntry(Answer):
    """A material."""

    code: Code
    name: str
    kind: str


class LotEntry(Answer):
    """A lot of a material."""

    material: Code
    code: Code
    supplier: str | None


class MethodVersionEntry(Answer):
    """A version of an analytical method and how its results are rounded."""

    version: str
    rounding_rule: RoundingRule
    sig_figs: int | None = Field(ge=1, le=INT32_MAX, description="Significant figures, if any.")


class MethodEntry(Answer):
    """A method and its versions, ascending."""

    code: Code
    versions: list[MethodVersionEntry]


class TestEntry(Answer):
    """A test definition."""

    __test__ = False  # not a pytest class, despite the name

    code: Code
    name: str
    unit: str | None
    method: Code
    method_version: str
    value_kind: str


class LimitEntry(Answer):
    """One limit line, as written (limits are expressions such as `95.0-105.0`)."""

    test: Code
    limit: str
    alert: str | None
    action: str | None
    limit_set: str


class SamplingPlanEntry(Answer):
    """The tests a sampling point's samples get, under which limit set."""

    sampling_point: Code
    limit_set: str
    tests: list[Code]


class SpecVersionEntry(Answer):
    """A specification version as the document carries it."""

    version: Version
    author: Code
    status: SpecStatus
    approver: str | None
    effective_from: UtcTime | None
    limits: list[LimitEntry]
    sampling_plans: list[SamplingPlanEntry]


class SpecificationEntry(Answer):
    """A specification and its versions, ascending."""

    code: Code
    versions: list[SpecVersionEntry]


class ProductEntry(Answer):
    """A product and the specification it is released against."""

    code: Code
    name: str
    specification: Code
    shelf_life_months: int | None = Field(
        ge=1,
        le=1200,
        description="Shelf life in calendar months (null: none known); the CoA's expiry.",
    )


class NamedEntry(Answer):
    """A record known by code and name (characteristics, locations)."""

    code: Code
    name: str


class MappingEntry(Answer):
    """Which test a MES characteristic is, at a sampling point or anywhere."""

    characteristic: Code
    test: Code
    sampling_point: str | None


class AliasEntry(Answer):
    """A partner system's code for one of labgate's."""

    system: AliasSystem
    kind: str
    external: str
    canonical: str


class EquipmentEntry(Answer):
    """A piece of equipment and where it stands."""

    code: Code
    name: str
    location: str | None


class ElementEntry(Answer):
    """An element of an ISA-88 procedure tree."""

    path: str
    level: Level
    name: str


class SamplingPointEntry(Answer):
    """A sampling point on a phase of a procedure."""

    code: Code
    phase: str
    sample_type: str
    gate: Gate
    # Written only when true, so an export re-imports unchanged: absent means not trended.
    trended: Literal[True] | None = Field(None, exclude_if=lambda value: value is None)


class ProcedureEntry(Answer):
    """A master procedure: its tree and its sampling points."""

    code: Code
    product: Code
    elements: list[ElementEntry]
    sampling_points: list[SamplingPointEntry]


class BatchEntry(Answer):
    """A batch."""

    code: Code
    product: Code
    procedure: Code
    started_at: UtcTime | None


class MasterDataDocument(Answer):
    """A site's master data in the document format the import reads, every section present."""

    site: SiteEntry
    units: list[UnitEntry]
    materials: list[MaterialEntry]
    lots: list[LotEntry]
    methods: list[MethodEntry]
    tests: list[TestEntry]
    specifications: list[SpecificationEntry]
    products: list[ProductEntry]
    characteristics: list[NamedEntry]
    mappings: list[MappingEntry]
    aliases: list[AliasEntry]
    locations: list[NamedEntry]
    equipment: list[EquipmentEntry]
    procedures: list[ProcedureEntry]
    batches: list[BatchEntry]


class SpecLifecycleChanged(Answer):
    """A specification version approved or put in force."""

    specification: str = Field(description="Its reference, e.g. `SPEC-A v3`.")
    status: Literal["approved", "effective"]


class SignatureShown(Answer):
    """A signature as Part 11 says it is shown, and whether the content still matches it."""

    printed_name: str
    signer: Code
    meaning: Meaning
    signed_at: UtcTime
    content_hash: Hash
    status: Literal["valid", "broken"]


class SpecLine(Answer):
    """A limit line of the version."""

    test_code: Code
    limit: str
    alert: str | None
    action: str | None
    limit_set: str


class SpecPlan(Answer):
    """A sampling plan of the version."""

    sampling_point: Code
    limit_set: str
    tests: list[Code]


class SpecVersionView(Answer):
    """A specification version: lifecycle, limits, sampling plans and signatures."""

    site: Code
    specification: Code
    version: Version
    author: Code
    limits: list[SpecLine]
    status: SpecStatus
    approver: str | None
    approved_at: UtcTime | None
    effective_from: UtcTime | None
    retired_at: UtcTime | None
    plans: list[SpecPlan]
    signatures: list[SignatureShown]
