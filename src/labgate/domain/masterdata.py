"""Governed master data, every identifier scoped by site (promise 8)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from labgate.domain.errors import Conflict, NotFound, SegregationOfDuties
from labgate.domain.lifecycle import SPEC_LIFECYCLE, SpecStatus
from labgate.domain.limits import LimitRule, parse_limit
from labgate.domain.numbers import RoundingPolicy, RoundingRule
from labgate.domain.sampling import RELEASE_SET, SamplingPlan


@dataclass
class Site:
    """A plant: the namespace of every other identifier."""

    code: str
    name: str
    # The IANA zone its documents show times in; stored times stay UTC (promise 5). None only
    # in an import document that names none: the stored zone stays (UTC for a new site).
    time_zone: str | None = "UTC"


@dataclass
class Unit:
    """A unit in the dictionary: its code, converter expression, precision and quantity kind."""

    code: str
    expression: str
    precision: int
    # What the unit measures ("mass fraction", "pH", "count per mass"): values convert only
    # between units of one kind, since the converter sees pH and % as both dimensionless.
    kind: str
    name: str = ""


@dataclass
class Material:
    """A raw, intermediate or finished material."""

    site: str
    code: str
    name: str
    kind: str = "raw"


@dataclass
class Lot:
    """A lot of a material."""

    site: str
    material: str
    code: str
    supplier: str | None = None


@dataclass
class Product:
    """A product made at the site, tested against one specification."""

    site: str
    code: str
    name: str
    specification: str
    # Whole calendar months from manufacture to expiry (domain/shelf_life.py); None when
    # master data holds none, and then no document states an expiry date.
    shelf_life_months: int | None = None


@dataclass
class MethodVersion:
    """A version of an analytical method; it fixes how results are rounded."""

    site: str
    method: str
    version: str
    rounding_rule: RoundingRule
    sig_figs: int | None = None
    # Set by an effective change request (domain/change_control.py): samples taken from then on
    # cannot bind this version; samples bound before keep it (promise 7).
    deprecated_from: datetime | None = None

    @property
    def policy(self) -> RoundingPolicy:
        """The rounding policy this method version prescribes."""
        return RoundingPolicy(self.rounding_rule, self.sig_figs)

    def check_bindable(self, sampled_at: datetime, test_code: str) -> None:
        """Refuse binding a deprecated version to a sample taken on or after its date."""
        if self.deprecated_from is not None and sampled_at >= self.deprecated_from:
            raise Conflict(
                f"Method {self.method} version {self.version} (test {test_code}) is deprecated "
                f"from {self.deprecated_from.isoformat()}; a sample taken on "
                f"{sampled_at.isoformat()} cannot bind it. Make a current version the test's "
                "method version in master data.",
                reason="method_version.deprecated",
                field="method_version",
            )


@dataclass
class TestDefinition:
    """A test code: what is measured, in which canonical unit, by which method."""

    __test__ = False  # not a pytest class, despite the name

    site: str
    code: str
    name: str
    unit: str | None
    method: str
    current_method_version: str
    value_kind: str = "numeric"


@dataclass
class LimitLine:
    """One test's limits within one limit set of a specification version, as governed text."""

    test_code: str
    limit: str
    alert: str | None = None
    action: str | None = None
    limit_set: str = RELEASE_SET

    def rule(self) -> LimitRule:
        """The parsed limit rule."""
        return LimitRule(
            self.test_code,
            parse_limit(self.limit, field=f"limits.{self.test_code}.limit"),
            parse_limit(self.alert, field=f"limits.{self.test_code}.alert") if self.alert else None,
            parse_limit(self.action, field=f"limits.{self.test_code}.action")
            if self.action
            else None,
        )


@dataclass
class SpecVersion:
    """A version of a specification: its limit sets, its sampling plans (domain/sampling.py)
    and its lifecycle (Draft → … → Retired)."""

    site: str
    specification: str
    version: int
    author: str
    limits: list[LimitLine] = field(default_factory=list)
    status: SpecStatus = SpecStatus.DRAFT
    approver: str | None = None
    approved_at: datetime | None = None
    effective_from: datetime | None = None
    retired_at: datetime | None = None
    plans: list[SamplingPlan] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """The business key shown on results: SPEC-CODE v3."""
        return f"{self.specification} v{self.version}"

    def lines_of(self, limit_set: str) -> list[LimitLine]:
        """The lines of one limit set, in the order written."""
        return [line for line in self.limits if line.limit_set == limit_set]

    def limit_for(self, test_code: str, limit_set: str = RELEASE_SET) -> LimitLine:
        """The limit line for a test code in a limit set (release unless named), or NotFound."""
        for line in self.lines_of(limit_set):
            if line.test_code == test_code:
                return line
        raise NotFound(
            f"Specification {self.ref} has no limit for test {test_code} in limit set "
            f"{limit_set!r}.",
            reason="spec.no_limit_for_test",
            field="test_code",
        )

    def approve(self, approver: str, at: datetime) -> None:
        """Independent approval: the approver is never the author (guide §07)."""
        if approver == self.author:
            raise SegregationOfDuties(
                f"{approver} wrote {self.ref} and cannot also approve it.",
                reason="spec.approver_is_author",
                field="approver",
            )
        SPEC_LIFECYCLE.check(self.ref, self.status, SpecStatus.APPROVED)
        self.status, self.approver, self.approved_at = SpecStatus.APPROVED, approver, at

    def make_effective(self, effective_from: datetime) -> None:
        """Put an approved version in force from a date."""
        SPEC_LIFECYCLE.check(self.ref, self.status, SpecStatus.EFFECTIVE)
        self.status, self.effective_from = SpecStatus.EFFECTIVE, effective_from

    def retire(self, at: datetime) -> None:
        """Withdraw a version: no new sample binds to it, in-flight samples keep it."""
        SPEC_LIFECYCLE.check(self.ref, self.status, SpecStatus.RETIRED)
        self.status, self.retired_at = SpecStatus.RETIRED, at

    def in_force_at(self, moment: datetime) -> bool:
        """Whether a sample taken at `moment` binds to this version."""
        if self.effective_from is None or self.effective_from > moment:
            return False
        if self.retired_at is not None and self.retired_at <= moment:
            return False
        return self.status in (SpecStatus.EFFECTIVE, SpecStatus.RETIRED)


def version_in_force(versions: Iterable[SpecVersion], moment: datetime) -> SpecVersion | None:
    """The effective version with the latest effective date not after `moment`."""
    candidates = [v for v in versions if v.in_force_at(moment)]
    return max(candidates, key=lambda v: (v.effective_from, v.version), default=None)


@dataclass
class Characteristic:
    """An MES quality characteristic."""

    site: str
    code: str
    name: str


@dataclass
class Mapping:
    """MES characteristic ↔ test code, optionally only at one sampling point."""

    site: str
    characteristic: str
    test_code: str
    sampling_point: str | None = None
    # Set by a master-data change request at its date: no sample requested from then on is
    # bound by it; samples bound before keep it (promise 7). retired_by: the request, SITE/CODE.
    retired_from: datetime | None = None
    retired_by: str | None = None

    def in_force_at(self, moment: datetime) -> bool:
        """Whether the mapping binds a sample requested at `moment`."""
        return self.retired_from is None or moment < self.retired_from

    def overlaps(self, other: Mapping) -> bool:
        """Whether one result of the same test could post to both mappings."""
        same_context = (
            self.sampling_point is None
            or other.sampling_point is None
            or self.sampling_point == other.sampling_point
        )
        return self.site == other.site and self.test_code == other.test_code and same_context


def check_no_cross_posting(new: Mapping, existing: Iterable[Mapping]) -> None:
    """Refuse a mapping that would post one result to two characteristics (guide §10)."""
    for old in existing:
        if old.retired_from is not None:  # retired: it posts nothing any more
            continue
        if old.characteristic != new.characteristic and new.overlaps(old):
            context = new.sampling_point or "any sampling point"
            raise Conflict(
                f"Test {new.test_code} at {context} is already mapped to characteristic "
                f"{old.characteristic}; mapping it to {new.characteristic} too would cross-post "
                "one result to two characteristics. Give each mapping its own sampling point.",
                reason="mapping.cross_posting",
                field="sampling_point",
            )


class AliasSystem(StrEnum):
    """Which system an alias code belongs to."""

    ERP = "ERP"
    MES = "MES"
    LIMS = "LIMS"


@dataclass
class Alias:
    """A governed synonym: another system's code for one of ours."""

    site: str
    system: AliasSystem
    kind: str
    external_code: str
    canonical_code: str
    # Set by a master-data change request at its date (as a mapping's): the code no longer
    # resolves from then on. retired_by: the request, SITE/CODE.
    retired_from: datetime | None = None
    retired_by: str | None = None

    def in_force_at(self, moment: datetime) -> bool:
        """Whether the alias resolves a code received at `moment`."""
        return self.retired_from is None or moment < self.retired_from


def resolve_alias(
    aliases: Iterable[Alias], system: AliasSystem, kind: str, code: str, at: datetime
) -> str:
    """Our code for `code` as `system` spells it at `at`; unknown codes, and codes whose alias
    was retired by then, pass through unchanged."""
    for alias in aliases:
        if (alias.system, alias.kind, alias.external_code) == (system, kind, code):
            return alias.canonical_code if alias.in_force_at(at) else code
    return code


@dataclass
class Location:
    """A room or area."""

    site: str
    code: str
    name: str


@dataclass
class Equipment:
    """A piece of equipment, in a location."""

    site: str
    code: str
    name: str
    location: str | None = None
