"""A master-data change request (kind masterdata), read as the import reads its document: the
changes it plans (per record, each field before → after) and the open samples it reaches. The
store is only read here; the import's own write path applies it (handlers.change_masterdata)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labgate.compliance.canonical import to_jsonable
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.masterdata import Alias, MethodVersion, Site, TestDefinition, Unit
from labgate.domain.masterdata import Mapping as TestMapping
from labgate.domain.samples import Sample
from labgate.service.masterdata.document import parse_document
from labgate.service.masterdata.fields import MasterDataDocument, relocate
from labgate.service.masterdata.plan import Change, plan_import
from labgate.service.masterdata.preview import planned
from labgate.service.unit_of_work import UnitOfWork

__all__ = ["MasterDataImpact", "document_of", "impact", "plan_change"]

PREFIX = "proposal.document"
# What arrives and binds or is converted, rounded and mapped by it; what is sent shaped by it.
INBOUND_TYPES = ("labgate.sample_request.v1", "labgate.result.v1")
OUTBOUND_TYPES = ("labgate.lims_sample_request.v1", "labgate.mes_result.v1")


def document_of(uow: UnitOfWork, site: str, proposal: Mapping[str, Any]) -> MasterDataDocument:
    """The proposal's document, checked as the import checks it (faults at proposal.document.…);
    its site header, when left out, is the request's site as stored."""
    raw = dict(proposal["document"])
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
    """What applying the proposal now would create or update; refused as the import refuses."""
    doc = document_of(uow, site, proposal)
    try:
        changes, _ = plan_import(uow, doc)
    except LabgateError as error:
        raise relocate(error, f"{PREFIX}.{error.field or ''}".rstrip(".")) from error
    if any(change.section == "site" for change in changes):
        raise InvalidInput(
            f"The change's {PREFIX}.site differs from site {site} as stored; a change request "
            "changes no site record (leave site out).",
            reason="change.invalid_proposal",
            field=f"{PREFIX}.site",
        )
    return changes


@dataclass(frozen=True)
class MasterDataImpact:
    """The planned changes and what they touch."""

    changes: list[dict[str, Any]]
    tests: frozenset[str]
    units: frozenset[str]
    methods: frozenset[str]
    characteristics: frozenset[str]

    def reaches(self, sample: Sample) -> bool:
        """Whether a test planned on the sample is one whose definition, unit, method or
        mapped characteristic the change touches."""
        return any(
            t.test_code in self.tests
            or (t.unit is not None and t.unit in self.units)
            or t.method in self.methods
            or (t.characteristic is not None and t.characteristic in self.characteristics)
            for t in sample.tests
        )


def impact(uow: UnitOfWork, site: str, proposal: Mapping[str, Any]) -> MasterDataImpact:
    """The request's planned changes now, and the codes they touch."""
    changes = plan_change(uow, site, proposal)
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
    )
