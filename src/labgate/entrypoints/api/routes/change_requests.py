"""Change control: raise a request, have its impact computed, approve it with QA's
e-signature (never by its author), reject or withdraw it; list and read requests."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.domain.change_commands import (
    ApplyDueChanges,
    ApproveChangeRequest,
    AssessChangeRequest,
    RaiseChangeRequest,
    RejectChangeRequest,
    WithdrawChangeRequest,
)
from labgate.domain.change_control import ChangeRequest
from labgate.domain.commands import Command
from labgate.entrypoints.api.answers.change_requests import (
    ChangeRequestItem,
    ChangeRequestList,
    ChangeRequestView,
    DueChangesApplied,
)
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes import lab_refusals as no
from labgate.entrypoints.api.routes.icd_config import refresh_icd
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.routes.masterdata import IMPORT_REFUSALS
from labgate.entrypoints.api.schemas import ChangeApprovalIn, ChangeCloseIn, ChangeRequestIn
from labgate.entrypoints.api.scope import SiteScope
from labgate.service.handlers.common import must_get

router = APIRouter(
    prefix="/api/v1/sites/{site}/change-requests", tags=["change control"],
    dependencies=[SiteScope],
)  # fmt: skip
UNKNOWN = {404: ("change_request.unknown",)}
MOVE = {409: ("change_request.invalid_transition",)}
# A record to retire, looked up again whenever the request is assessed or approved.
RETIRING = {404: ("masterdata.not_found",), 409: ("masterdata.already_retired",)}
REASON = {422: ("input.reason_required", "input.reason_too_short")}


@router.post(
    "",
    summary="Raise a change request (draft)",
    status_code=201,
    openapi_extra=refuses(
        {
            **IMPORT_REFUSALS,  # a masterdata proposal is checked as the import checks it
            404: (
                "spec_version.unknown",
                "method_version.unknown",
                "masterdata.not_found",  # a mapping or alias to retire that is not stored
                *IMPORT_REFUSALS[404],
            ),
            409: ("masterdata.already_retired", *IMPORT_REFUSALS[409]),
            422: (
                "change.invalid_proposal",
                "change.title_required",
                "change.unknown_kind",
                "input.reason_required",
                "input.reason_too_short",
                "status_map.cancelled_result",
                "status_map.incomplete",
                "status_map.unreviewed_decision",
                *IMPORT_REFUSALS[422],
            ),
        }
    ),
)
async def raise_request(
    request: Request, site: str, body: ChangeRequestIn,
    _: Account = allowed(Permission.MANAGE_MASTERDATA),
) -> ChangeRequestView:  # fmt: skip
    """The author is the signed-in caller; the change's target must exist."""
    command = RaiseChangeRequest(await request_context(request), site, body.kind, body.title,
                                 body.reason, body.proposal, body.effective_from)  # fmt: skip
    return await _answer(request, site, command)


@router.get("", summary="List a site's change requests")
def list_requests(
    request: Request, site: str, _: Account = allowed(Permission.READ)
) -> ChangeRequestList:
    """Newest first."""
    with hub_of(request).uow_factory() as uow:
        found = uow.records.find(ChangeRequest, site=site)
        items = [ChangeRequestItem.model_validate(_fields(cr, ChangeRequestItem.model_fields))
                 for cr in reversed(found)]  # fmt: skip
    return ChangeRequestList(items=items)


@router.post(
    "/apply-due",
    summary="QA: put in force now the approved requests whose date has come",
)
async def apply_due(
    request: Request, site: str, _: Account = allowed(Permission.APPROVE_SPEC)
) -> DueChangesApplied:
    """The due pass the relay runs every LABGATE_CHANGE_APPLY_SECONDS, for this site, now."""
    context = await request_context(request)
    done = await run_in_threadpool(hub_of(request).bus.handle, ApplyDueChanges(context, site))
    if done.applied:
        await run_in_threadpool(refresh_icd, hub_of(request), context, [site])
    refused = [{"code": one.partition("/")[2], "reason": why} for one, why in done.not_applied]
    return DueChangesApplied.model_validate(
        {"applied": [one.partition("/")[2] for one in done.applied], "not_applied": refused}
    )


@router.get(
    "/{change_request}",
    summary="A change request with its assessment",
    openapi_extra=refuses(UNKNOWN),
)
def get_request(
    request: Request, site: str, change_request: str, _: Account = allowed(Permission.READ)
) -> ChangeRequestView:
    """Its proposal, its computed assessment and hash, and its decision."""
    return _view(request, site, change_request)


@router.post(
    "/{change_request}/assessment",
    summary="Compute the request's impact from the store",
    openapi_extra=refuses(no.merged(UNKNOWN, MOVE, RETIRING)),
)
async def assess_request(
    request: Request,
    site: str,
    change_request: str,
    _: Account = allowed(Permission.MANAGE_MASTERDATA),
) -> ChangeRequestView:
    """Open samples and batches, message types, streams and partner systems, and the
    requirements whose tests cover it; computed, never typed."""
    command = AssessChangeRequest(await request_context(request), site, change_request)
    return await _answer(request, site, command, change_request)


@router.post(
    "/{change_request}/approval",
    summary="QA: approve with e-signature (applied at once if its date has come)",
    openapi_extra=refuses(
        no.merged(
            no.SIGNED,
            UNKNOWN,
            MOVE,
            RETIRING,
            {
                403: ("change.approver_is_author",),
                409: ("change.assessment_stale", "specification_version.invalid_transition"),
                422: ("change.effective_before_approval",),
            },
        )
    ),
)
async def approve_request(
    request: Request, site: str, change_request: str, body: ChangeApprovalIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> ChangeRequestView:  # fmt: skip
    """The signature binds the request's content and its assessment hash, recomputed now."""
    context = await request_context(request)
    command = ApproveChangeRequest(context, site, change_request, body.signature.to_input(),
                                   body.seen_assessment)  # fmt: skip
    answer = await _answer(request, site, command, change_request)
    # In force from its approval, the ICD says so now (a later date: nothing new to say yet).
    await run_in_threadpool(refresh_icd, hub_of(request), context, [site])
    return answer


@router.post(
    "/{change_request}/rejection",
    summary="QA: reject the request",
    openapi_extra=refuses(no.merged(UNKNOWN, MOVE, REASON)),
)
async def reject_request(
    request: Request, site: str, change_request: str, body: ChangeCloseIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> ChangeRequestView:  # fmt: skip
    """It never takes effect."""
    command = RejectChangeRequest(await request_context(request), site, change_request, body.reason)
    return await _answer(request, site, command, change_request)


@router.post(
    "/{change_request}/withdrawal",
    summary="Withdraw the request before its approval",
    openapi_extra=refuses(no.merged(UNKNOWN, MOVE, REASON)),
)
async def withdraw_request(
    request: Request, site: str, change_request: str, body: ChangeCloseIn,
    _: Account = allowed(Permission.MANAGE_MASTERDATA),
) -> ChangeRequestView:  # fmt: skip
    """It never takes effect."""
    command = WithdrawChangeRequest(
        await request_context(request), site, change_request, body.reason
    )
    return await _answer(request, site, command, change_request)


async def _answer(
    request: Request, site: str, command: Command, code: str | None = None
) -> ChangeRequestView:
    """Run the command; the request as it now stands (a new one's code is what it returns)."""
    outcome = await run_in_threadpool(hub_of(request).bus.handle, command)
    return _view(request, site, code or str(outcome))


def _view(request: Request, site: str, code: str) -> ChangeRequestView:
    with hub_of(request).uow_factory() as uow:
        cr = must_get(uow, ChangeRequest, "change_request", "code", site=site, code=code)
        return ChangeRequestView.model_validate(_fields(cr, ChangeRequestView.model_fields))


def _fields(cr: ChangeRequest, names: Collection[str]) -> dict[str, object]:
    shown = to_jsonable(cr)
    assert isinstance(shown, dict)
    return {k: v for k, v in shown.items() if k in names}
