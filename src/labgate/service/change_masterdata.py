"""A master-data change request (kind masterdata), read as the import reads its document: the
changes it plans (per record, each field before → after) and the open samples it reaches. The
store is only read here; the import's own write path applies it (handlers.change_masterdata)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labgate.compliance.canonical import to_jsonable
from labgate.domain.change_masterdata import retirements
from labgate.domain.errors import Conflict, InvalidInput, LabgateError, NotFound
from labgate.domain.masterdata import (
    Alias,
    AliasSystem,
    MethodVersion,
    Site,
    TestDefinition,
    Unit,
)
from labgate.domain.masterdata import Mapping as TestMapping
from labgate.domain.samples import Sample
from labgate.service.masterdata.document import business_key, parse_document
from labgate.service.masterdata.fields import Entry, MasterDataDocument, relocate
from labgate.service.masterdata.governance import retired_in
from labgate.service.masterdata.plan import Change, plan_import
from labgate.service.masterdata.preview import planned
from labgate.service.unit_of_work import UnitOfWork

__all__ = [
    "MasterDataImpact",
    "Retired",
    "bound_by",
    "document_of",
    "impact",
    "plan_change",
    "retired_key",
    "retiring",
]

Retired = TestMapping | Alias

PREFIX = "proposal.document"
# What arrives and binds or is converted, rounded and mapped by it; what is sent shaped by it.
INBOUND_TYPES = ("labgate.sample_request.v1", "labgate.result.v1")
OUTBOUND_TYPES = ("labgate.lims_sample_request.v1", "labgate.mes_result.v1")


def document_of(uow: UnitOfWork, site: str, proposal: Mapping[str, Any]) -> MasterDataDocument:
    """The proposal's document, checked as the import checks it (faults at proposal.document.…);
    its site header, when left out, is the request's site as stored."""
    raw = dict(proposal.get("document") or {})
    if "site" not in raw:
        stored = uow.records.get(Site, code=site)
        raw["site"] = {"code": site, "name": site if stored is None else stored.name}
    try:
        doc = parse_document(raw)
    except LabgateError as error:
        raise relocate(error, f"{PREFIX}.{error.field or ''}".rstrip(".")) from error
    if doc.site.code != site:
        raise InvalidInput(
            f"The change's {PREFIX}.site.code is {doc.site.code!r}; a change request of site "
            f"{site} changes that site's master data only.",
            reason="change.invalid_proposal",
            field=f"{PREFIX}.site.code",
        )
    return doc


def plan_change(uow: UnitOfWork, site: str, proposal: Mapping[str, Any]) -> list[Change]:
    """What applying the proposal now would create or update; refused as the import refuses,
    and refused if it names a retired record (nothing is silently brought back) or retires
    one that is not stored and in force."""
    targets = retiring(uow, site, proposal)
    if "document" not in proposal:
        return []
    doc = document_of(uow, site, proposal)
    _refuse_writing_what_it_retires(doc, targets)
    try:
        mappings = [t for t in targets if isinstance(t, TestMapping)]
        changes, _ = plan_import(uow, doc, retiring=mappings)
    except LabgateError as error:
        raise relocate(error, f"{PREFIX}.{error.field or ''}".rstrip(".")) from error
    if any(change.section == "site" for change in changes):
        raise InvalidInput(
            f"The change's {PREFIX}.site differs from site {site} as stored; a change request "
            "changes no site record (leave site out).",
            reason="change.invalid_proposal",
            field=f"{PREFIX}.site",
        )
    for path, stored in retired_in(uow, doc):
        raise Conflict(
            f"The change's {PREFIX}.{path} names a {_what(stored)} retired by change request "
            f"{stored.retired_by} from {_iso(stored.retired_from)}; a retired record stays "
            "retired (no change brings it back).",
            reason="masterdata.already_retired",
            field=f"{PREFIX}.{path}",
        )
    return changes


def _refuse_writing_what_it_retires(doc: MasterDataDocument, targets: list[Retired]) -> None:
    """One request may retire a mapping and write its successor, never write and retire the
    same record (which of the two would hold is not for the store to guess)."""
    retired = {(type(t), business_key(t)) for t in targets}
    entries: list[Entry[TestMapping] | Entry[Alias]] = [*doc.mappings, *doc.aliases]
    for entry in entries:
        if (type(entry.record), business_key(entry.record)) in retired:
            raise InvalidInput(
                f"The change's {PREFIX}.{entry.path} writes the {_what(entry.record)} that its "
                "proposal.retire retires; a request either keeps a record or retires it.",
                reason="change.invalid_proposal",
                field=f"{PREFIX}.{entry.path}",
            )


def retiring(uow: UnitOfWork, site: str, proposal: Mapping[str, Any]) -> list[Retired]:
    """The stored records the proposal retires, each in force now; refused naming the first
    that is not stored (masterdata.not_found) or already retired (masterdata.already_retired)."""
    found: list[Retired] = []
    for section, where, key in retirements(proposal):
        stored = _stored(uow, site, section, key)
        named = " / ".join("any" if v is None else str(v) for v in key.values())
        if stored is None:
            raise NotFound(
                f"The change's {where} names {section[:-1]} {named}, which is not stored for "
                f"site {site}; only a stored record can be retired.",
                reason="masterdata.not_found",
                field=where,
            )
        if stored.retired_from is not None:
            raise Conflict(
                f"The change's {where} names {section[:-1]} {named}, already retired by change "
                f"request {stored.retired_by} from {_iso(stored.retired_from)}.",
                reason="masterdata.already_retired",
                field=where,
            )
        found.append(stored)
    return found


def _stored(uow: UnitOfWork, site: str, section: str, key: dict[str, Any]) -> Retired | None:
    if section == "mappings":
        return uow.records.get(TestMapping, site=site, **key)
    try:
        system = AliasSystem(key["system"])
    except ValueError:
        return None
    return uow.records.get(Alias, site=site, **{**key, "system": system})


def _what(record: Retired) -> str:
    return "mapping" if isinstance(record, TestMapping) else "alias"


def _iso(at: datetime | None) -> str:
    return "" if at is None else at.isoformat()


@dataclass(frozen=True)
class MasterDataImpact:
    """The planned changes and what they touch."""

    changes: list[dict[str, Any]]
    tests: frozenset[str]
    units: frozenset[str]
    methods: frozenset[str]
    characteristics: frozenset[str]
    # The stored mappings and aliases it retires, in force now.
    retiring: tuple[Retired, ...] = ()

    def reaches(self, sample: Sample) -> bool:
        """Whether a test planned on the sample is one whose definition, unit, method or
        mapped characteristic the change touches, or one a retired record bound."""
        return any(bound_by(r, sample) for r in self.retiring) or any(
            t.test_code in self.tests
            or (t.unit is not None and t.unit in self.units)
            or t.method in self.methods
            or (t.characteristic is not None and t.characteristic in self.characteristics)
            for t in sample.tests
        )


def bound_by(record: Retired, sample: Sample) -> bool:
    """Whether the sample was bound by the mapping (it keeps it), or is still to receive
    results the LIMS codes by the alias (a LIMS code no longer resolves once it is retired)."""
    if isinstance(record, TestMapping):
        here = record.sampling_point in (None, sample.sampling_point)
        return here and any(
            (t.characteristic, t.test_code) == (record.characteristic, record.test_code)
            for t in sample.tests
        )
    if record.system is not AliasSystem.LIMS:
        return False  # an MES or ERP code is resolved when a sample is requested: bound already
    code = record.canonical_code
    if record.kind == "test":
        return any(t.test_code == code for t in sample.tests)
    return record.kind == "unit" and any(t.unit == code for t in sample.tests)


def retired_key(record: Retired) -> dict[str, Any]:
    """The fields naming a retired record, as the proposal names it."""
    if isinstance(record, TestMapping):
        return {"characteristic": record.characteristic, "test_code": record.test_code,
                "sampling_point": record.sampling_point}  # fmt: skip
    return {"system": record.system.value, "kind": record.kind,
            "external_code": record.external_code,
            "canonical_code": record.canonical_code}  # fmt: skip


def impact(uow: UnitOfWork, site: str, proposal: Mapping[str, Any]) -> MasterDataImpact:
    """The request's planned changes now, and the codes they touch."""
    changes = plan_change(uow, site, proposal)
    retired = tuple(retiring(uow, site, proposal))
    records = [change.new for change in changes]
    tests = {r.code for r in records if isinstance(r, TestDefinition)}
    tests |= {r.test_code for r in records if isinstance(r, TestMapping)}
    tests |= {r.canonical_code for r in records if isinstance(r, Alias) and r.kind == "test"}
    units = {r.code for r in records if isinstance(r, Unit)}
    units |= {r.canonical_code for r in records if isinstance(r, Alias) and r.kind == "unit"}
    return MasterDataImpact(
        changes=[to_jsonable(planned(change)) for change in changes],
        tests=frozenset(tests),
        units=frozenset(units),
        methods=frozenset(r.method for r in records if isinstance(r, MethodVersion)),
        characteristics=frozenset(r.characteristic for r in records if isinstance(r, TestMapping)),
        retiring=retired,
    )
