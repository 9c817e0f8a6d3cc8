"""A master-data change request put in force: its document written through the import's own
write path (one audit entry per record, before and after), with the request as its reason; the
mappings and aliases it retires retired from its date. An effective master-data request whose
every mapping and alias is now retired, and that changed nothing else, is closed as retired."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labgate.compliance.canonical import to_jsonable
from labgate.domain.change_control import ChangeKind, ChangeRequest, ChangeState
from labgate.domain.commands import Context
from labgate.domain.masterdata import Mapping
from labgate.service.change_masterdata import Retired, document_of, plan_change, retiring
from labgate.service.handlers.common import record
from labgate.service.handlers.masterdata import write_change
from labgate.service.masterdata.governance import retired_in
from labgate.service.masterdata.preview import record_id
from labgate.service.unit_of_work import UnitOfWork

# What a request may put in force besides mappings and aliases: one of these keeps it open.
OTHER_SECTIONS = ("units", "methods", "tests")


def apply_masterdata(
    uow: UnitOfWork, ctx: Context, now: datetime, cr: ChangeRequest, why: str
) -> None:
    """Plan the document against the store as it is now (refused, with nothing written, if it
    no longer applies), write every change, then retire what it retires."""
    targets = retiring(uow, cr.site, cr.proposal)
    for change in plan_change(uow, cr.site, cr.proposal):
        write_change(uow, ctx, now, change, why)
    at, by = cr.effective_from or now, f"{cr.site}/{cr.code}"
    for target in targets:
        _retire(uow, ctx, now, target, at, by, why)
    if targets:
        _close_retired_requests(uow, ctx, now, cr)


def _retire(
    uow: UnitOfWork, ctx: Context, now: datetime, target: Retired, at: datetime, by: str,
    why: str,
) -> None:  # fmt: skip
    kind = "mapping" if isinstance(target, Mapping) else "alias"
    before = {"retired_from": None, "retired_by": None}
    target.retired_from, target.retired_by = at, by
    after = {"retired_from": to_jsonable(at), "retired_by": by}
    record(uow, ctx, now, "masterdata.retired", (kind, record_id(target), target.site),
           before=before, after=after, reason=why)  # fmt: skip


def _close_retired_requests(
    uow: UnitOfWork, ctx: Context, now: datetime, cr: ChangeRequest
) -> None:
    """Close, as retired by `cr`, each effective master-data request of the site that put only
    mappings and aliases in force, all of them retired now."""
    text = f"retired by {cr.site}/{cr.code}"
    for old in uow.records.find(ChangeRequest, site=cr.site, kind=ChangeKind.MASTERDATA,
                                state=ChangeState.EFFECTIVE):  # fmt: skip
        if old.code == cr.code or not _all_retired(uow, old):
            continue
        before = _closing(old)
        old.close(ChangeState.RETIRED, ctx.actor, now, text)
        record(uow, ctx, now, "change_request.retired", ("change_request", old.code, old.site),
               before=before, after=_closing(old), reason=text)  # fmt: skip


def _all_retired(uow: UnitOfWork, old: ChangeRequest) -> bool:
    """Whether the request changed only mappings and aliases, and each is retired now."""
    document = old.proposal.get("document") or {}
    if "retire" in old.proposal or any(document.get(s) for s in OTHER_SECTIONS):
        return False
    doc = document_of(uow, old.site, old.proposal)
    named = len(doc.mappings) + len(doc.aliases)
    return named > 0 and len(retired_in(uow, doc)) == named


def _closing(cr: ChangeRequest) -> dict[str, Any]:
    fields = ("state", "closed_by", "closed_at", "close_reason")
    return {name: to_jsonable(getattr(cr, name)) for name in fields}
