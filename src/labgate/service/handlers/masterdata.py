"""Master data under change control: import by business key, export, spec approval and effect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labgate.compliance.access import Permission
from labgate.compliance.canonical import content_hash, to_jsonable
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.commands import (
    ApproveSpecVersion,
    Context,
    ImportMasterData,
    MakeSpecVersionEffective,
    PreviewMasterDataImport,
)
from labgate.domain.errors import Conflict
from labgate.domain.masterdata import LimitLine, Site, SpecVersion, Unit
from labgate.domain.reasons import require_reason
from labgate.domain.sampling import RELEASE_SET, SamplingPlan
from labgate.service.deps import Deps
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.masterdata.document import parse_document
from labgate.service.masterdata.fields import Entry, MasterDataDocument
from labgate.service.masterdata.governance import (
    bind_spec_authors,
    refuse_governed_updates,
    refuse_retired,
)
from labgate.service.masterdata.plan import (
    SECTION_RECORDS,
    Change,
    ImportSummary,
    SectionCounts,
    plan_import,
)
from labgate.service.masterdata.preview import FieldChange, PlannedChange, planned, record_id
from labgate.service.masterdata.render import render_document
from labgate.service.unit_of_work import UnitOfWork

__all__ = [
    "FieldChange",
    "ImportPreview",
    "ImportSummary",
    "PlannedChange",
    "SectionCounts",
    "approve_spec_version",
    "export_masterdata",
    "import_masterdata",
    "make_spec_effective",
    "plan_hash",
    "preview_masterdata_import",
    "spec_content",
    "write_change",
]


def import_masterdata(cmd: ImportMasterData, uow: UnitOfWork, deps: Deps) -> ImportSummary:
    """Upsert a whole document under change control: every record of it, or none."""
    reason = _required_reason(cmd.reason)
    doc = parse_document(cmd.document)
    with uow:
        now = deps.clock.now()
        bind_spec_authors(uow, doc, cmd.ctx.actor)
        changes, summary = plan_import(uow, doc)
        refuse_governed_updates(doc, changes)
        refuse_retired(uow, doc)
        _check_seen_plan(changes, cmd.seen_plan)
        # Everything is checked before the first write, so a refusal leaves nothing behind.
        for change in changes:
            write_change(uow, cmd.ctx, now, change, reason)
        uow.commit()
        return summary


@dataclass(frozen=True)
class ImportPreview:
    """What an import of the document would do now, record by record; `plan_hash` identifies
    it (ImportMasterData.seen_plan)."""

    changes: tuple[PlannedChange, ...]
    summary: ImportSummary

    @property
    def plan_hash(self) -> str:
        """The hash of the planned changes, field by field."""
        return plan_hash(self.changes)


def plan_hash(changes: tuple[PlannedChange, ...]) -> str:
    """SHA-256 of the planned changes as the preview lists them."""
    return content_hash(to_jsonable(changes))


def _check_seen_plan(changes: list[Change], seen: str | None) -> None:
    """Refuse an import that would write anything else than the preview showed."""
    if seen is not None and plan_hash(tuple(planned(c) for c in changes)) != seen:
        raise Conflict(
            "Master data changed after the preview was shown; preview the document again "
            "and check what it would change now.",
            reason="masterdata.changed_since_preview",
            field="seen_plan",
        )


def preview_masterdata_import(
    cmd: PreviewMasterDataImport, uow: UnitOfWork, deps: Deps
) -> ImportPreview:
    """The import's own plan of the document, refused as the import would refuse it; the unit
    of work is left without commit, so nothing is written."""
    doc = parse_document(cmd.document)
    with uow:
        bind_spec_authors(uow, doc, cmd.ctx.actor)
        changes, summary = plan_import(uow, doc)
        refuse_governed_updates(doc, changes)
        refuse_retired(uow, doc)
        return ImportPreview(tuple(planned(change) for change in changes), summary)


def _required_reason(reason: str | None) -> str:
    return require_reason(reason, what="A change to governed master data")


def write_change(uow: UnitOfWork, ctx: Context, now: datetime, change: Change, reason: str) -> None:
    """Write one change and its audit entry; an update keeps the stored object, so its id."""
    _, record_type, governed = SECTION_RECORDS[change.section]
    # A site is its own namespace; units are global and have none.
    site = change.new.code if change.section == "site" else getattr(change.new, "site", None)
    subject = (record_type, record_id(change.new), site)
    if change.existing is None:
        uow.records.add(change.new)
        record(uow, ctx, now, "masterdata.created", subject, after=change.new, reason=reason)
        return
    before = to_jsonable(change.existing)
    for name in governed:
        if name == "limits":
            _rewrite_lines(change.existing.limits, change.new.limits)
        elif name == "plans":
            _rewrite_plans(change.existing.plans, change.new.plans)
        else:
            setattr(change.existing, name, getattr(change.new, name))
    record(uow, ctx, now, "masterdata.updated", subject,
           before=before, after=change.existing, reason=reason)  # fmt: skip


def _rewrite_lines(stored: list[LimitLine], new: list[LimitLine]) -> None:
    """Rewrite a draft's limit lines in place, then append: the store never deletes a line."""
    for line, incoming in zip(stored, new, strict=False):  # never shorter: checked in the plan
        line.test_code, line.limit = incoming.test_code, incoming.limit
        line.alert, line.action = incoming.alert, incoming.action
        line.limit_set = incoming.limit_set
    stored.extend(new[len(stored) :])


def _rewrite_plans(stored: list[SamplingPlan], new: list[SamplingPlan]) -> None:
    """Rewrite a draft's sampling plans in place, then append, as its limit lines."""
    for plan, incoming in zip(stored, new, strict=False):  # never shorter: checked in the plan
        plan.sampling_point, plan.limit_set = incoming.sampling_point, incoming.limit_set
        plan.tests = list(incoming.tests)
    stored.extend(new[len(stored) :])


def export_masterdata(uow: UnitOfWork, site: str) -> dict[str, Any]:
    """The site's master data as a document that re-imports with every record unchanged."""
    with uow:
        stored = must_get(uow, Site, "site", "site", code=site)
        sections: dict[str, list[Entry[Any]]] = {
            name: _entries(uow.records.find(cls, site=site))
            for name, (cls, _, _) in SECTION_RECORDS.items()
            if name not in ("site", "units")
        }
        units = _entries(uow.records.find(Unit))  # the unit dictionary is global
        return render_document(MasterDataDocument(stored, units, **sections))


def _entries(records: list[Any]) -> list[Entry[Any]]:
    # A retired mapping or alias is history, not master data to load again.
    return [Entry("", r) for r in records if getattr(r, "retired_from", None) is None]


def spec_content(v: SpecVersion) -> dict[str, Any]:
    """What a signature on a specification version binds to: its identity, author, limits (in
    their limit sets) and sampling plans."""
    # A line's set is named only when it is not release, and plans only when there are any: a
    # version signed before limit sets existed has the same content now, so its signature holds.
    content: dict[str, Any] = {
        "site": v.site,
        "specification": v.specification,
        "version": v.version,
        "author": v.author,
        "limits": [
            {"test": line.test_code, "limit": line.limit, "alert": line.alert,
             "action": line.action,
             **({} if line.limit_set == RELEASE_SET else {"limit_set": line.limit_set})}
            for line in v.limits
        ],
    }  # fmt: skip
    if v.plans:
        content["sampling_plans"] = [
            {"sampling_point": p.sampling_point, "limit_set": p.limit_set, "tests": p.tests}
            for p in v.plans
        ]
    return content


def approve_spec_version(cmd: ApproveSpecVersion, uow: UnitOfWork, deps: Deps) -> str:
    """QA approves a Draft version with an e-signature; the author never approves it."""
    with uow:
        now = deps.clock.now()
        signer, meaning = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.APPROVE_SPEC, SignedAction.APPROVE_SPEC
        )
        version = _load_version(uow, cmd.site, cmd.specification, cmd.version)
        if cmd.seen_content is not None and content_hash(spec_content(version)) != cmd.seen_content:
            raise Conflict(
                f"{version.ref} changed after the page was shown; read it again before signing.",
                reason="spec.changed_since_shown",
                field="seen_content",
            )
        before = _lifecycle(version)
        version.approve(signer.username, now)
        subject = ("specification", version.ref, cmd.site)
        after = _lifecycle(version)
        record(uow, cmd.ctx, now, "specification.approved", subject,
               before=before, after=after, reason="e-signature: approved")  # fmt: skip
        apply_signature(uow, cmd.ctx, now, signer, meaning, subject, spec_content(version))
        uow.commit()
        return version.ref


def make_spec_effective(cmd: MakeSpecVersionEffective, uow: UnitOfWork, deps: Deps) -> str:
    """Put an approved version in force from a date; samples taken from then on bind to it."""
    reason = _required_reason(cmd.reason)
    with uow:
        now = deps.clock.now()
        version = _load_version(uow, cmd.site, cmd.specification, cmd.version)
        before = _lifecycle(version)
        version.make_effective(cmd.effective_from)
        record(uow, cmd.ctx, now, "specification.made_effective",
               ("specification", version.ref, cmd.site),
               before=before, after=_lifecycle(version), reason=reason)  # fmt: skip
        uow.commit()
        return version.ref


def _load_version(uow: UnitOfWork, site: str, specification: str, version: int) -> SpecVersion:
    return must_get(uow, SpecVersion, "spec_version", "version",
                    site=site, specification=specification, version=version)  # fmt: skip


def _lifecycle(v: SpecVersion) -> dict[str, Any]:
    """The lifecycle fields of a version, as the audit trail records them."""
    return {
        "status": v.status, "approver": v.approver, "approved_at": v.approved_at,
        "effective_from": v.effective_from, "retired_at": v.retired_at,
    }  # fmt: skip
