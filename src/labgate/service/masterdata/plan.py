"""An import planned against the store: what to create, update or leave, and what to refuse.

Nothing here writes. A document may name what an earlier import stored (a test naming a method
version loaded last month), so references are looked up in the document first, then the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from labgate.compliance.canonical import to_jsonable
from labgate.domain.batches import Batch, Procedure, SamplingPoint
from labgate.domain.errors import Conflict, InvalidInput, UnitError
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import (
    Alias,
    Characteristic,
    Equipment,
    Location,
    Lot,
    Material,
    MethodVersion,
    Product,
    Site,
    SpecVersion,
    TestDefinition,
    Unit,
    check_no_cross_posting,
)
from labgate.domain.masterdata import Mapping as TestMapping
from labgate.service.masterdata.document import KEY_FIELDS
from labgate.service.masterdata.fields import Entry, MasterDataDocument, relocate
from labgate.service.masterdata.specs import check_version_plans
from labgate.service.unit_of_work import UnitOfWork

__all__ = [
    "SECTION_RECORDS",
    "Change",
    "ImportSummary",
    "Keys",
    "Known",
    "SectionCounts",
    "check_references",
    "document_keys",
    "plan_import",
]

# (kind of record, key within the site) -> whether the document or the store has it
Known = Callable[[str, tuple[str, ...]], bool]
Keys = dict[str, set[tuple[str, ...]]]


@dataclass(frozen=True)
class SectionCounts:
    """How many records of one section an import created, updated or left unchanged."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class ImportSummary:
    """What one import did, per section (`summary["tests"].created`)."""

    sections: Mapping[str, SectionCounts]

    def __getitem__(self, section: str) -> SectionCounts:
        """The counts of one section; zeros for a section the document left out."""
        return self.sections.get(section, SectionCounts())

    @property
    def changed(self) -> bool:
        """Whether anything was created or updated."""
        return any(c.created or c.updated for c in self.sections.values())


# Per section: the record class, the audit record type, and the fields the document governs
# (everything else is the business key, or lifecycle state that changes only by signature).
_TEST_FIELDS = ("name", "unit", "method", "current_method_version", "value_kind")
_POINT_FIELDS = ("procedure", "phase_path", "sample_type", "gate", "trended")
SECTION_RECORDS: dict[str, tuple[type, str, tuple[str, ...]]] = {
    "site": (Site, "site", ("name", "time_zone")),
    "units": (Unit, "unit", ("expression", "precision", "kind", "name")),
    "materials": (Material, "material", ("name", "kind")),
    "lots": (Lot, "lot", ("supplier",)),
    "methods": (MethodVersion, "method", ("rounding_rule", "sig_figs")),
    "tests": (TestDefinition, "test", _TEST_FIELDS),
    "specifications": (SpecVersion, "specification", ("author", "limits", "plans")),
    "products": (Product, "product", ("name", "specification", "shelf_life_months")),
    "characteristics": (Characteristic, "characteristic", ("name",)),
    "locations": (Location, "location", ("name",)),
    "equipment": (Equipment, "equipment", ("name", "location")),
    "procedures": (Procedure, "procedure", ("product", "elements")),
    "sampling_points": (SamplingPoint, "sampling_point", _POINT_FIELDS),
    "mappings": (TestMapping, "mapping", ()),
    "aliases": (Alias, "alias", ("canonical_code",)),
    "batches": (Batch, "batch", ("product", "procedure", "started_at")),
}
_STORE_KEYS: dict[str, tuple[type, tuple[str, ...]]] = {
    "unit": (Unit, ("code",)), "material": (Material, ("code",)),
    "method_version": (MethodVersion, ("method", "version")), "test": (TestDefinition, ("code",)),
    "specification": (SpecVersion, ("specification",)), "product": (Product, ("code",)),
    "characteristic": (Characteristic, ("code",)), "sampling_point": (SamplingPoint, ("code",)),
    "location": (Location, ("code",)), "procedure": (Procedure, ("code",)),
}  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One record to create (`existing` None) or to update in place."""

    section: str
    new: Any
    existing: Any | None


def plan_import(
    uow: UnitOfWork, doc: MasterDataDocument, retiring: Collection[TestMapping] = ()
) -> tuple[list[Change], ImportSummary]:
    """Check references, sampling plans, cross-posting and locks over document and store; list
    the changes. `retiring`: stored mappings a change request retires as it writes `doc` (they
    no longer count against its new ones, so one request can remap a test)."""
    check_references(doc, _known(uow, doc))
    for entry in doc.specifications:  # after references: an unknown test is named as such
        check_version_plans(entry)
    _check_cross_posting(uow, doc, {_mapping_key(m) for m in retiring})
    return _plan(uow, doc)


def _known(uow: UnitOfWork, doc: MasterDataDocument) -> Known:
    """A lookup over the document first, then the store."""
    in_document, units, site = document_keys(doc), set(uow.unit_expressions()), doc.site.code

    def known(kind: str, key: tuple[str, ...]) -> bool:
        if key in in_document[kind] or (kind == "unit" and key[0] in units):
            return True
        cls, names = _STORE_KEYS[kind]
        where: dict[str, Any] = dict(zip(names, key, strict=True))
        return bool(uow.records.find(cls, **where, **({} if cls is Unit else {"site": site})))

    return known


def _mapping_key(m: TestMapping) -> tuple[str, str, str | None]:
    return m.characteristic, m.test_code, m.sampling_point


def _check_cross_posting(
    uow: UnitOfWork, doc: MasterDataDocument, retiring: set[tuple[str, str, str | None]]
) -> None:
    """No result may post to two characteristics, counting stored mappings too (guide §10)."""
    stored = uow.records.find(TestMapping, site=doc.site.code)
    others = [m for m in stored if _mapping_key(m) not in retiring]
    for entry in doc.mappings:  # the fault is the later of two clashing mappings
        try:
            check_no_cross_posting(entry.record, others)
        except Conflict as error:
            raise relocate(error, f"{entry.path}.sampling_point") from error
        others.append(entry.record)


def _plan(uow: UnitOfWork, doc: MasterDataDocument) -> tuple[list[Change], ImportSummary]:
    """Compare each record with the store; refuse changes to locked records."""
    changes: list[Change] = []
    counts: dict[str, SectionCounts] = {}
    for section, entries in [("site", [Entry("site", doc.site)]), *doc.sections()]:
        tally: Counter[str] = Counter()
        for entry in entries:
            outcome, existing = _compare(uow, section, entry)
            tally[outcome] += 1
            if outcome != "unchanged":
                changes.append(Change(section, entry.record, existing))
        counts[section] = SectionCounts(tally["created"], tally["updated"], tally["unchanged"])
    return changes, ImportSummary(MappingProxyType(counts))


def _compare(uow: UnitOfWork, section: str, entry: Entry[Any]) -> tuple[str, Any | None]:
    """'created', 'updated' or 'unchanged', and the stored record if there is one."""
    new = entry.record
    key = {name: getattr(new, name) for name in KEY_FIELDS.get(type(new), ("code",))}
    if section not in ("site", "units"):  # units are global; a site is its own key
        key["site"] = new.site
    existing = uow.records.get(type(new), **key)
    if isinstance(new, Site) and new.time_zone is None:
        # A document that names no zone (an aliases-only import) keeps the site's.
        new.time_zone = "UTC" if existing is None else existing.time_zone
    if isinstance(new, SpecVersion):
        _check_declared(existing or new, entry)
    if existing is None:
        return "created", None
    difference = _first_difference(section, existing, new)
    if difference is None:
        return "unchanged", existing
    # The document calls a version's plans `sampling_plans`.
    written = "sampling_plans" if difference == "plans" else difference
    _check_unlocked(existing, new, f"{entry.path}.{written}")
    return "updated", existing


def _first_difference(section: str, stored: Any, new: Any) -> str | None:
    """The first governed field whose value differs, or None."""
    for name in SECTION_RECORDS[section][2]:
        if to_jsonable(getattr(stored, name)) != to_jsonable(getattr(new, name)):
            return name
    return None


def _check_declared(stored: SpecVersion, entry: Entry[Any]) -> None:
    """Read-only fields a document states (as export writes them) must match the store."""
    for name, value in entry.declared.items():
        if to_jsonable(getattr(stored, name)) != to_jsonable(value):
            raise Conflict(
                f"{entry.path}.{name} is {to_jsonable(value)!r} but {stored.ref} has "
                f"{to_jsonable(getattr(stored, name))!r}; status, approver and effective date "
                "change only through approval with an e-signature, never by import.",
                reason="spec.version_locked",
                field=f"{entry.path}.{name}",
            )


def _check_unlocked(stored: Any, new: Any, path: str) -> None:
    """Method versions never change once stored; spec versions only while Draft, and a draft
    keeps every limit line and sampling plan it has (the store never deletes one)."""
    if isinstance(stored, MethodVersion):
        raise Conflict(
            f"Method {stored.method} version {stored.version} is stored and cannot change "
            f"({path}); results were rounded under it. Add a new method version instead.",
            reason="masterdata.method_version_locked",
            field=path,
        )
    if isinstance(stored, SpecVersion) and stored.status is not SpecStatus.DRAFT:
        raise Conflict(
            f"{stored.ref} is {stored.status.value}; its limits and author are locked ({path}). "
            "Write the change as a new version.",
            reason="spec.version_locked",
            field=path,
        )
    if isinstance(stored, SpecVersion) and len(new.limits) < len(stored.limits):
        raise Conflict(
            f"{path} drops limit lines from {stored.ref}; a stored limit line is never deleted. "
            "Change the line, or retire this draft and write a new version without it.",
            reason="spec.limit_removed",
            field=path,
        )
    if isinstance(stored, SpecVersion) and len(new.plans) < len(stored.plans):
        raise Conflict(
            f"{path} drops sampling plans from {stored.ref}; a stored plan is never deleted. "
            "Change the plan, or retire this draft and write a new version without it.",
            reason="sampling_plan.removed",
            field=path,
        )


def document_keys(doc: MasterDataDocument) -> Keys:
    """The keys of everything the document defines that other records may name."""
    return {
        "unit": {(e.record.code,) for e in doc.units},
        "material": {(e.record.code,) for e in doc.materials},
        "method_version": {(e.record.method, e.record.version) for e in doc.methods},
        "test": {(e.record.code,) for e in doc.tests},
        "specification": {(e.record.specification,) for e in doc.specifications},
        "product": {(e.record.code,) for e in doc.products},
        "characteristic": {(e.record.code,) for e in doc.characteristics},
        "sampling_point": {(e.record.code,) for e in doc.sampling_points},
        "location": {(e.record.code,) for e in doc.locations},
        "procedure": {(e.record.code,) for e in doc.procedures},
    }


def check_references(doc: MasterDataDocument, known: Known) -> None:
    """Every code a record names exists in the document or the store; the first miss raises."""
    for kind, key, path in _references(doc):
        if known(kind, key):
            continue
        named = " version ".join(key)
        if kind == "unit":
            raise UnitError(
                f"Unit {named!r} at {path} is not in the unit dictionary; add it under units.",
                reason="unit.unknown",
                field=path,
            )
        raise InvalidInput(
            f"{path} names {kind.replace('_', ' ')} {named}, which is neither in this document "
            f"nor stored for site {doc.site.code}.",
            reason="masterdata.unknown_reference",
            field=path,
        )


def _references(doc: MasterDataDocument) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """(kind, key, JSON path) for every reference the document makes."""
    for t in doc.tests:
        key = (t.record.method, t.record.current_method_version)
        yield "method_version", key, f"{t.path}.method_version"
        if t.record.unit is not None:
            yield "unit", (t.record.unit,), f"{t.path}.unit"
    for s in doc.specifications:
        for i, line in enumerate(s.record.limits):
            yield "test", (line.test_code,), f"{s.path}.limits[{i}].test"
        for i, plan in enumerate(s.record.plans):
            point = f"{s.path}.sampling_plans[{i}].sampling_point"
            yield "sampling_point", (plan.sampling_point,), point
    for a in doc.aliases:
        yield a.record.kind, (a.record.canonical_code,), f"{a.path}.canonical"
    for section, attribute, kind, name in _ONE_CODE:
        for entry in getattr(doc, section):
            code = getattr(entry.record, attribute)
            if code is not None:
                yield kind, (code,), f"{entry.path}.{name}"


# References that are one optional code: (section, attribute, kind named, document field).
_ONE_CODE = (
    ("lots", "material", "material", "material"),
    ("products", "specification", "specification", "specification"),
    ("equipment", "location", "location", "location"),
    ("procedures", "product", "product", "product"),
    ("mappings", "characteristic", "characteristic", "characteristic"),
    ("mappings", "test_code", "test", "test"),
    ("mappings", "sampling_point", "sampling_point", "sampling_point"),
    ("batches", "product", "product", "product"),
    ("batches", "procedure", "procedure", "procedure"),
)
