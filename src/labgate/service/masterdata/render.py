"""Records written back into the master-data document shape: what export produces and import
reads again, so that export -> import leaves every record unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from labgate.compliance.clock import iso_utc
from labgate.domain.batches import Batch, Procedure, SamplingPoint
from labgate.domain.masterdata import Alias, LimitLine, MethodVersion, SpecVersion, TestDefinition
from labgate.domain.masterdata import Mapping as TestMapping
from labgate.service.masterdata.fields import Entry, MasterDataDocument

__all__ = ["render_document"]

R = TypeVar("R")
Row = dict[str, Any]


def render_document(doc: MasterDataDocument) -> Row:
    """The document for these records, every section present, JSON- and YAML-safe."""
    site = doc.site.code
    return {
        "site": {"code": site, "name": doc.site.name, "time_zone": doc.site.time_zone},
        "units": _rows(doc.units, ("code", "expression", "precision", "kind", "name")),
        "materials": _rows(doc.materials, ("code", "name", "kind")),
        "lots": _rows(doc.lots, ("material", "code", "supplier")),
        "methods": _grouped(doc.methods, lambda m: m.method, _method_version),
        "tests": [_test(e.record) for e in doc.tests],
        "specifications": _grouped(doc.specifications, lambda s: s.specification, _spec_version),
        "products": _rows(doc.products, ("code", "name", "specification", "shelf_life_months")),
        "characteristics": _rows(doc.characteristics, ("code", "name")),
        "mappings": [_mapping(e.record) for e in doc.mappings],
        "aliases": [_alias(e.record) for e in doc.aliases],
        "locations": _rows(doc.locations, ("code", "name")),
        "equipment": _rows(doc.equipment, ("code", "name", "location")),
        "procedures": [_procedure(e.record, doc.sampling_points) for e in doc.procedures],
        "batches": [_batch(e.record) for e in doc.batches],
    }


def _rows(entries: list[Entry[Any]], names: tuple[str, ...]) -> list[Row]:
    """Records whose document fields are their own attributes, under the same names."""
    return [{name: getattr(e.record, name) for name in names} for e in entries]


def _grouped(
    entries: list[Entry[R]], code: Callable[[R], str], render: Callable[[R], Row]
) -> list[Row]:
    """{code, versions: [...]} per code, codes in first-seen order, versions ascending."""
    groups: dict[str, list[R]] = {}
    for entry in entries:
        groups.setdefault(code(entry.record), []).append(entry.record)
    return [
        {"code": key, "versions": [render(v) for v in sorted(group, key=_version_order)]}
        for key, group in groups.items()
    ]


def _version_order(record: Any) -> tuple[int, str]:
    """Numeric versions by number ("10" after "9"), others after them as text."""
    version = str(record.version)
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def _method_version(v: MethodVersion) -> Row:
    return {"version": v.version, "rounding_rule": v.rounding_rule.value, "sig_figs": v.sig_figs}


def _spec_version(v: SpecVersion) -> Row:
    return {
        "version": v.version,
        "author": v.author,
        "status": v.status.value,
        "approver": v.approver,
        "effective_from": None if v.effective_from is None else iso_utc(v.effective_from),
        "limits": [_limit(line) for line in v.limits],
        "sampling_plans": [
            {"sampling_point": p.sampling_point, "limit_set": p.limit_set, "tests": list(p.tests)}
            for p in v.plans
        ],
    }


def _limit(line: LimitLine) -> Row:
    return {"test": line.test_code, "limit": line.limit, "alert": line.alert,
            "action": line.action, "limit_set": line.limit_set}  # fmt: skip


def _test(t: TestDefinition) -> Row:
    return {
        "code": t.code, "name": t.name, "unit": t.unit, "method": t.method,
        "method_version": t.current_method_version, "value_kind": t.value_kind,
    }  # fmt: skip


def _mapping(m: TestMapping) -> Row:
    return {
        "characteristic": m.characteristic,
        "test": m.test_code,
        "sampling_point": m.sampling_point,
    }


def _alias(a: Alias) -> Row:
    return {
        "system": a.system.value,
        "kind": a.kind,
        "external": a.external_code,
        "canonical": a.canonical_code,
    }


def _procedure(p: Procedure, points: list[Entry[SamplingPoint]]) -> Row:
    return {
        "code": p.code,
        "product": p.product,
        "elements": [
            {"path": e.path, "level": e.level.name.lower(), "name": e.name} for e in p.elements
        ],
        "sampling_points": [
            {
                "code": s.record.code,
                "phase": s.record.phase_path,
                "sample_type": s.record.sample_type,
                "gate": s.record.gate,
                **({"trended": True} if s.record.trended else {}),  # absent: not trended
            }
            for s in points
            if s.record.procedure == p.code
        ],
    }


def _batch(b: Batch) -> Row:
    started = None if b.started_at is None else iso_utc(b.started_at)
    return {"code": b.code, "product": b.product, "procedure": b.procedure, "started_at": started}
