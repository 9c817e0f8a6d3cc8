"""The impact of a change request, computed from the store (never typed): the open samples and
batches it reaches, the message types and partner streams it shapes, and the requirements of
the validation pack whose tests cover it. Its canonical JSON hash is what QA's signature binds."""

from __future__ import annotations

from typing import Any

from labgate.compliance.canonical import content_hash
from labgate.domain.batches import Batch
from labgate.domain.change_control import ChangeKind, ChangeRequest
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.masterdata import Mapping
from labgate.domain.samples import Sample
from labgate.service import change_masterdata as md
from labgate.service.change_allow_list import assess_allow_list
from labgate.service.unit_of_work import UnitOfWork
from labgate.service.validation.requirements import COVERING_CHANGES, REQUIREMENTS

# Open: still to be decided; a cancelled or completed sample keeps what was decided for it.
OPEN_SAMPLES = (SampleStatus.REQUESTED, SampleStatus.REGISTERED, SampleStatus.IN_TESTING)

# The message types each kind shapes: what arrives (and binds or is evaluated), what is sent.
RESULT_TYPES = ("labgate.result.v1", "labgate.result_invalidation.v1")
STATUS_TYPES = (
    "labgate.result_status.v1",
    "labgate.mes_result.v1",
    "labgate.result_invalidated.v1",
)
BINDING_TYPES = ("labgate.sample_request.v1", "labgate.result.v1")
INBOUND: dict[ChangeKind, tuple[str, ...]] = {
    ChangeKind.STATUS_MAP: RESULT_TYPES,
    ChangeKind.SPEC_RETIREMENT: BINDING_TYPES,
    ChangeKind.METHOD_DEPRECATION: BINDING_TYPES,
    ChangeKind.MASTERDATA: md.INBOUND_TYPES,
}
OUTBOUND: dict[ChangeKind, tuple[str, ...]] = {
    ChangeKind.STATUS_MAP: STATUS_TYPES,
    ChangeKind.SPEC_RETIREMENT: ("labgate.lims_sample_request.v1",),
    ChangeKind.METHOD_DEPRECATION: ("labgate.lims_sample_request.v1",),
    ChangeKind.MASTERDATA: md.OUTBOUND_TYPES,
}


def assess(uow: UnitOfWork, cr: ChangeRequest) -> tuple[dict[str, Any], str]:
    """The request's impact as the store has it now, and its hash."""
    if cr.kind is ChangeKind.CHANNEL_ALLOW_LIST:
        return assess_allow_list(uow, cr)
    # The status map is the hub's, not one site's: it reaches open samples everywhere.
    site = None if cr.kind is ChangeKind.STATUS_MAP else cr.site
    plan = md.impact(uow, cr.site, cr.proposal) if cr.kind is ChangeKind.MASTERDATA else None
    reaches = (lambda s: _reaches(cr, s)) if plan is None else plan.reaches
    samples = [s for s in _open_samples(uow, site) if reaches(s)]
    open_batches = _open_batches(uow, samples)
    senders = uow.senders(site, INBOUND[cr.kind])
    covering = COVERING_CHANGES[cr.kind.value]
    assessment: dict[str, Any] = {
        "scope": "hub" if site is None else f"site {cr.site}",
        "open_samples": [f"{s.site}/{s.code}" for s in samples],
        "open_batches": open_batches,
        "message_types": {"inbound": list(INBOUND[cr.kind]), "outbound": list(OUTBOUND[cr.kind])},
        "streams": [{"source": so, "stream": st, "schema": sc} for so, st, sc in senders],
        "partner_systems": sorted({so for so, _, _ in senders}),
        "requirements": [
            {"id": r.id, "title": r.title, "implemented_by": list(r.implemented_by)}
            for r in REQUIREMENTS
            if r.id in covering
        ],
        **({} if plan is None else {"planned_changes": plan.changes}),
    }
    if plan is not None and "retire" in cr.proposal:
        assessment["retired"] = [_retired(uow, cr, r, samples) for r in plan.retiring]
    return assessment, content_hash(assessment)


# The inbound message types naming a retired record's codes, by whom they come from.
_NAMED_BY = {"MES": ("labgate.sample_request.v1",), "LIMS": ("labgate.result.v1",), "ERP": ()}


def _retired(
    uow: UnitOfWork, cr: ChangeRequest, record: md.Retired, open_samples: list[Sample]
) -> dict[str, Any]:
    """What one retired record reaches: the open samples it bound (they keep it), their open
    batches, the partner streams whose messages name its codes, the covering requirements."""
    samples = [s for s in open_samples if md.bound_by(record, s)]
    system = "MES" if isinstance(record, Mapping) else record.system.value
    senders = uow.senders(cr.site, _NAMED_BY[system]) if _NAMED_BY[system] else []
    return {
        "record": "mapping" if isinstance(record, Mapping) else "alias",
        "key": md.retired_key(record),
        "retired_from": None if cr.effective_from is None else cr.effective_from.isoformat(),
        "open_samples": [f"{s.site}/{s.code}" for s in samples],
        "open_batches": _open_batches(uow, samples),
        "streams": [{"source": so, "stream": st, "schema": sc} for so, st, sc in senders],
        "requirements": list(COVERING_CHANGES[cr.kind.value]),
    }


def _open_batches(uow: UnitOfWork, samples: list[Sample]) -> list[str]:
    """The samples' batches not yet released."""
    batches = sorted({(s.site, s.batch) for s in samples if s.batch is not None})
    return [
        f"{b_site}/{code}"
        for b_site, code in batches
        if (found := uow.records.get(Batch, site=b_site, code=code)) is None
        or found.released_at is None
    ]


def _open_samples(uow: UnitOfWork, site: str | None) -> list[Sample]:
    where = {} if site is None else {"site": site}
    found = uow.records.find_any(Sample, "status", OPEN_SAMPLES, **where)
    return sorted(found, key=lambda s: (s.site, s.code))


def _reaches(cr: ChangeRequest, sample: Sample) -> bool:
    """Whether the change shapes what is still to be decided for this sample."""
    p = cr.proposal
    if cr.kind is ChangeKind.SPEC_RETIREMENT:
        return (sample.specification, sample.spec_version) == (p["specification"], p["version"])
    if cr.kind is ChangeKind.METHOD_DEPRECATION:
        # Bound samples keep the version (promise 7), yet their results are still rounded by it.
        return any(
            (t.method, t.method_version) == (p["method"], p["version"]) for t in sample.tests
        )
    return True  # every result still to be approved is mapped by the status map in force
