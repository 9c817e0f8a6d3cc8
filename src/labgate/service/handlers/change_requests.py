"""Change control: a request is raised, assessed from the store, approved by QA with an
e-signature over its content and assessment, and applied once its date has come."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labgate.compliance.access import Permission
from labgate.compliance.canonical import to_jsonable
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.change_commands import (
    ApplyDueChanges,
    ApproveChangeRequest,
    AssessChangeRequest,
    RaiseChangeRequest,
    RejectChangeRequest,
    WithdrawChangeRequest,
)
from labgate.domain.change_control import (
    ChangeKind,
    ChangeRequest,
    ChangeState,
    StatusMapVersion,
    check_date,
    check_proposal,
    content,
)
from labgate.domain.commands import Context
from labgate.domain.errors import Conflict, InvalidInput, LabgateError
from labgate.domain.masterdata import MethodVersion, SpecVersion
from labgate.domain.reasons import require_reason
from labgate.service.change_allow_list import check_known
from labgate.service.change_impact import assess
from labgate.service.change_masterdata import plan_change
from labgate.service.deps import Deps
from labgate.service.handlers.change_allow_list import approve_allow_list, put_allow_list
from labgate.service.handlers.change_masterdata import apply_masterdata
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.unit_of_work import UnitOfWork


def raise_change_request(cmd: RaiseChangeRequest, uow: UnitOfWork, deps: Deps) -> str:
    """A draft request by the signed-in caller; its target must exist."""
    kind, proposal = check_proposal(cmd.kind, cmd.proposal)
    title = cmd.title.strip()
    if not title:
        raise InvalidInput("A change request needs a title.", reason="change.title_required",
                           field="title")  # fmt: skip
    reason = require_reason(cmd.reason, what="A change request")
    with uow:
        now = deps.clock.now()
        _target(uow, cmd.site, kind, proposal)
        code = f"CR-{uow.next_number(f'change_request:{cmd.site}'):06d}"
        cr = ChangeRequest(cmd.site, code, kind, title, reason, proposal, cmd.ctx.actor, now,
                           check_date(cmd.effective_from))  # fmt: skip
        uow.records.add(cr)
        record(uow, cmd.ctx, now, "change_request.raised", _subject(cr), after=cr, reason=reason)
        uow.commit()
        return code


def assess_change_request(cmd: AssessChangeRequest, uow: UnitOfWork, deps: Deps) -> str:
    """Compute the impact from the store now and keep it; its hash is returned."""
    with uow:
        now, cr = deps.clock.now(), _load(uow, cmd.site, cmd.code)
        before = _state(cr)
        assessment, digest = assess(uow, cr)
        cr.assess(assessment, digest, now)
        record(uow, cmd.ctx, now, "change_request.assessed", _subject(cr), before=before,
               after={**_state(cr), "assessment": assessment},
               reason="impact computed from the store")  # fmt: skip
        uow.commit()
        return digest


def approve_change_request(cmd: ApproveChangeRequest, uow: UnitOfWork, deps: Deps) -> str:
    """QA signs the request and its assessment, recomputed now; applied at once if due."""
    with uow:
        now = deps.clock.now()
        signer, meaning = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.APPROVE_SPEC, SignedAction.APPROVE_CHANGE
        )
        cr = _load(uow, cmd.site, cmd.code)
        _, digest = assess(uow, cr)
        if digest != cr.assessment_hash or cmd.seen_assessment not in (None, digest):
            raise Conflict(
                f"The store moved since change request {cr.code} was assessed (or since the "
                "page was shown); assess it again and read the new impact before signing.",
                reason="change.assessment_stale",
                field="assessment_hash",
            )
        before = _state(cr)
        cr.approve(signer.username, now)
        record(uow, cmd.ctx, now, "change_request.approved", _subject(cr), before=before,
               after=_state(cr), reason="e-signature: approved")  # fmt: skip
        apply_signature(uow, cmd.ctx, now, signer, meaning, _subject(cr), content(cr))
        if cr.kind is ChangeKind.STATUS_MAP:
            _approve_status_map(uow, cmd.ctx, now, cr)
        if cr.kind is ChangeKind.CHANNEL_ALLOW_LIST:
            approve_allow_list(uow, cmd.ctx, now, cr)
        if cr.is_due(now):
            _apply(uow, cmd.ctx, now, cr)
        uow.commit()
        return cr.state.value


def reject_change_request(cmd: RejectChangeRequest, uow: UnitOfWork, deps: Deps) -> str:
    """QA rejects an assessed request; it never takes effect."""
    return _close(cmd.ctx, cmd.site, cmd.code, cmd.reason, ChangeState.REJECTED, uow, deps)


def withdraw_change_request(cmd: WithdrawChangeRequest, uow: UnitOfWork, deps: Deps) -> str:
    """The request is withdrawn before its approval."""
    return _close(cmd.ctx, cmd.site, cmd.code, cmd.reason, ChangeState.WITHDRAWN, uow, deps)


def apply_due_changes(cmd: ApplyDueChanges, uow: UnitOfWork, deps: Deps) -> DuePass:
    """Put in force every approved request whose date has come, oldest date first, each in its
    own transaction: one the store refuses (its target moved since its approval) is closed as
    not applied, with the refusal's reason, and the others go on."""
    with uow:
        now = deps.clock.now()
        where = {} if cmd.site is None else {"site": cmd.site}
        approved = uow.records.find(ChangeRequest, state=ChangeState.APPROVED, **where)
        due = sorted((cr.effective_from, cr.site, cr.code) for cr in approved if cr.is_due(now))
    done = DuePass([], [])
    for _, site, code in due:
        try:
            with uow:
                cr = _load(uow, site, code)
                if not cr.is_due(now):  # another process's pass took it meanwhile
                    continue
                _apply(uow, cmd.ctx, now, cr)
                uow.commit()
            done.applied.append(f"{site}/{code}")
        except LabgateError as error:
            _not_applied(uow, cmd.ctx, now, site, code, error)
            done.not_applied.append((f"{site}/{code}", error.reason))
    return done


@dataclass(frozen=True)
class DuePass:
    """What a due pass did: the requests put in force, and those closed as not applied with
    the reason code the store refused each with."""

    applied: list[str]
    not_applied: list[tuple[str, str]]


def _not_applied(
    uow: UnitOfWork, ctx: Context, now: datetime, site: str, code: str, error: LabgateError
) -> None:
    with uow:
        cr = _load(uow, site, code)
        before = _state(cr)
        why = f"not applied at its date ({error.reason}): {error}"
        cr.close(ChangeState.NOT_APPLIED, ctx.actor, now, why)
        record(uow, ctx, now, "change_request.not_applied", _subject(cr), before=before,
               after={**_state(cr), "reason_code": error.reason, "field": error.field},
               reason=why)  # fmt: skip
        uow.commit()


def _close(
    ctx: Context, site: str, code: str, reason: str, target: ChangeState, uow: UnitOfWork,
    deps: Deps,
) -> str:  # fmt: skip
    with uow:
        now, cr = deps.clock.now(), _load(uow, site, code)
        before = _state(cr)
        cr.close(target, ctx.actor, now, reason)
        record(uow, ctx, now, f"change_request.{target.value}", _subject(cr), before=before,
               after=_state(cr), reason=cr.close_reason or reason)  # fmt: skip
        uow.commit()
        return cr.state.value


def _apply(uow: UnitOfWork, ctx: Context, now: datetime, cr: ChangeRequest) -> None:
    """Write the change into the store, at its date, and mark the request effective."""
    at = cr.effective_from or now
    why = f"change request {cr.code}: {cr.title}"
    if cr.kind is ChangeKind.STATUS_MAP:
        _put_status_map(uow, ctx, now, cr, at, why)
    elif cr.kind is ChangeKind.CHANNEL_ALLOW_LIST:
        put_allow_list(uow, ctx, now, cr, at, why)
    elif cr.kind is ChangeKind.MASTERDATA:
        apply_masterdata(uow, ctx, now, cr, why)
    elif cr.kind is ChangeKind.SPEC_RETIREMENT:
        spec = _target(uow, cr.site, cr.kind, cr.proposal)
        assert isinstance(spec, SpecVersion)
        before = {"status": spec.status, "retired_at": spec.retired_at}
        spec.retire(at)
        record(uow, ctx, now, "specification.retired", ("specification", spec.ref, cr.site),
               before=before, after={"status": spec.status, "retired_at": spec.retired_at},
               reason=why)  # fmt: skip
    else:
        method = _target(uow, cr.site, cr.kind, cr.proposal)
        assert isinstance(method, MethodVersion)
        before = {"deprecated_from": method.deprecated_from}
        method.deprecated_from = at
        record(uow, ctx, now, "method_version.deprecated",
               ("method_version", f"{method.method} v{method.version}", cr.site),
               before=before, after={"deprecated_from": at}, reason=why)  # fmt: skip
    before = _state(cr)
    cr.make_effective(now)
    record(uow, ctx, now, "change_request.effective", _subject(cr), before=before,
           after=_state(cr), reason=why)  # fmt: skip


def _approve_status_map(uow: UnitOfWork, ctx: Context, now: datetime, cr: ChangeRequest) -> None:
    """The approved map written at once with its date: results decided from that instant on
    are mapped by it, whether or not the due pass has run yet (it moves the map's config
    version now: every process reloads the dated versions and picks by its own clock)."""
    assert cr.effective_from is not None  # set by the approval
    versions = uow.records.find(StatusMapVersion)
    number = max((v.version for v in versions), default=0) + 1
    new = StatusMapVersion(number, cr.effective_from, cr.code, cr.site, list(cr.proposal["rules"]))
    uow.records.add(new)
    record(uow, ctx, now, "status_map.version_approved", ("status_map", str(number), None),
           after=new, reason=f"change request {cr.code}: {cr.title}")  # fmt: skip


def _put_status_map(
    uow: UnitOfWork, ctx: Context, now: datetime, cr: ChangeRequest, at: datetime, why: str
) -> None:
    """The request's version (written at its approval) is in force from its date; the request
    that put the previous one in force is superseded."""
    [version] = uow.records.find(StatusMapVersion, site=cr.site, change_request=cr.code)
    record(uow, ctx, now, "status_map.version_in_force",
           ("status_map", str(version.version), None), after={"effective_from": at},
           reason=why)  # fmt: skip
    for old in uow.records.find(ChangeRequest, kind=ChangeKind.STATUS_MAP,
                                state=ChangeState.EFFECTIVE):  # fmt: skip
        before = _state(old)
        old.close(ChangeState.SUPERSEDED, ctx.actor, now, f"superseded by {cr.site}/{cr.code}")
        record(uow, ctx, now, "change_request.superseded", _subject(old), before=before,
               after=_state(old), reason=f"superseded by {cr.site}/{cr.code}")  # fmt: skip


def _target(
    uow: UnitOfWork, site: str, kind: ChangeKind, p: dict[str, Any]
) -> SpecVersion | MethodVersion | None:
    """The record a request changes (None for the status map and the channel allow-list, whose
    schemas must be known), or NotFound naming the field."""
    if kind is ChangeKind.CHANNEL_ALLOW_LIST:
        check_known(p)
    if kind is ChangeKind.SPEC_RETIREMENT:
        return must_get(uow, SpecVersion, "spec_version", "proposal.version", site=site,
                        specification=p["specification"], version=p["version"])  # fmt: skip
    if kind is ChangeKind.METHOD_DEPRECATION:
        return must_get(uow, MethodVersion, "method_version", "proposal.version", site=site,
                        method=p["method"], version=p["version"])  # fmt: skip
    if kind is ChangeKind.MASTERDATA:
        plan_change(uow, site, p)  # the document, checked as the import would check it
    return None


def _load(uow: UnitOfWork, site: str, code: str) -> ChangeRequest:
    return must_get(uow, ChangeRequest, "change_request", "code", site=site, code=code)


def _subject(cr: ChangeRequest) -> tuple[str, str, str]:
    return ("change_request", cr.code, cr.site)


def _state(cr: ChangeRequest) -> dict[str, Any]:
    """The lifecycle fields of a request, as the audit trail records them."""
    fields = ("state", "effective_from", "assessment_hash", "approver", "approved_at",
              "applied_at", "closed_by", "closed_at", "close_reason")  # fmt: skip
    return {name: to_jsonable(getattr(cr, name)) for name in fields}
