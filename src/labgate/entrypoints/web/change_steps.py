"""The forms of change control, each read as the body the API's route takes (the same model,
so the same field rules) and sent as the same bus command: raise a request, have its impact
computed, QA's approval with an e-signature (meaning fixed: approved), rejection, withdrawal.
The rules (segregation of duties, a stale assessment, the order of states) are the handler's;
a refusal is shown on the page with its reason code and audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from labgate.compliance.access import Permission
from labgate.compliance.signatures import Meaning
from labgate.domain.change_commands import (
    ApproveChangeRequest,
    AssessChangeRequest,
    RaiseChangeRequest,
    RejectChangeRequest,
    WithdrawChangeRequest,
)
from labgate.domain.commands import Command
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.api.routes.icd_config import refresh_icd
from labgate.entrypoints.api.schemas import ChangeApprovalIn, ChangeCloseIn, ChangeRequestIn
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.change_allow_list import allow_list_proposal
from labgate.entrypoints.web.change_requests import list_values, request_values
from labgate.entrypoints.web.layout import site_view
from labgate.entrypoints.web.masterdata_import import read_yaml
from labgate.entrypoints.web.masterdata_specs import local_moment
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix

router = APIRouter()
Managing = Annotated[Visitor, Depends(allowed(Permission.MANAGE_MASTERDATA))]
Approving = Annotated[Visitor, Depends(allowed(Permission.APPROVE_SPEC))]
MAX_RULES = 32  # more rows than any status map has; a forged form cannot make us loop


def as_body(model: type[BaseModel], fields: dict[str, Any]) -> Any:
    """The form as the API's body; refused by field and rule as the API refuses it."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        raise InvalidInput(
            f"{field or 'The form'}: {first.get('msg')}.",
            reason=f"input.{first.get('type', 'invalid')}",
            field=field,
        ) from None


def proposal_of(form: dict[str, str]) -> dict[str, Any]:
    """The proposal the form's kind carries, in the API's shape."""
    kind = form.get("kind", "")
    if kind == "status_map":
        rules = []
        for i in range(MAX_RULES):
            if f"rule-{i}-lims_status" not in form:
                break
            rules.append({name: form.get(f"rule-{i}-{name}", "")
                          for name in ("lims_status", "outcome", "mes_status")})  # fmt: skip
        return {"rules": rules}
    if kind == "channel_allow_list":
        return allow_list_proposal(form)
    if kind == "spec_retirement":
        version = form.get("spec_version", "").strip()
        return {"specification": form.get("specification", ""),
                "version": int(version) if version.isdigit() else version}  # fmt: skip
    if kind == "masterdata":  # YAML or JSON, read as the import page reads it
        text = read_yaml(form.get("document", ""))
        # A whole proposal (a document and/or what it retires) is taken as written.
        if "retire" in text:
            return text
        return {"document": text}
    return {"method": form.get("method", ""), "version": form.get("method_version", "")}


@router.post("/sites/{site}/change-requests", name="change_raise")
async def raise_request(request: Request, site: str, who: Managing) -> Response:
    """A draft request by the signed-in person; refused on the list page, the text kept."""
    form = await posted_form(request, who)
    try:
        start = form.get("effective_from", "").strip()
        zone = site_view(request, site).zone
        body = as_body(ChangeRequestIn, {
            "kind": form.get("kind", ""), "title": form.get("title", ""),
            "reason": form.get("reason", ""), "proposal": proposal_of(form),
            "effective_from": local_moment(start, zone) if start else None,
        })  # fmt: skip
        command = RaiseChangeRequest(context(request, who.account.username), site, body.kind,
                                     body.title, body.reason, body.proposal,
                                     body.effective_from)  # fmt: skip
        code = await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        await audit(request, error)
        values = await run_in_threadpool(list_values, request, who, site)
        values["refused"], values["attempt"] = error, form
        values["attempt"].pop("csrf_token", None)
        return page(request, "change_requests.html", values, status=http_status(error))
    return _back(request, site, str(code), "raised")


@router.post("/sites/{site}/change-requests/{code}/assessment", name="change_assess")
async def assess(request: Request, site: str, code: str, who: Managing) -> Response:
    """Compute the impact from the store now."""
    await posted_form(request, who)
    command = AssessChangeRequest(context(request, who.account.username), site, code)
    return await _send(request, who, site, code, command, "assessed")


@router.post("/sites/{site}/change-requests/{code}/approval", name="change_approve")
async def approve(request: Request, site: str, code: str, who: Approving) -> Response:
    """QA's approval with an e-signature whose meaning is fixed: approved."""
    form = await posted_form(request, who)
    signature = {"username": form.get("username", ""), "password": form.get("password", ""),
                 "meaning": Meaning.APPROVED.value}  # fmt: skip
    try:
        seen = form.get("seen_assessment") or None
        body = as_body(ChangeApprovalIn, {"signature": signature, "seen_assessment": seen})
    except LabgateError as error:
        return await _refused(request, who, site, code, error, {})
    command = ApproveChangeRequest(context(request, who.account.username), site, code,
                                   body.signature.to_input(), body.seen_assessment)  # fmt: skip
    return await _send(request, who, site, code, command, "approved")


@router.post("/sites/{site}/change-requests/{code}/rejection", name="change_reject")
async def reject(request: Request, site: str, code: str, who: Approving) -> Response:
    """QA rejects an assessed request, with a reason."""
    form = await posted_form(request, who)
    return await _close(request, who, site, code, form, "rejected")


@router.post("/sites/{site}/change-requests/{code}/withdrawal", name="change_withdraw")
async def withdraw(request: Request, site: str, code: str, who: Managing) -> Response:
    """The request is withdrawn before its approval, with a reason."""
    form = await posted_form(request, who)
    return await _close(request, who, site, code, form, "withdrawn")


async def _close(
    request: Request, who: Visitor, site: str, code: str, form: dict[str, str], done: str
) -> Response:
    attempt = {"close": done, "reason": form.get("reason", "")}
    try:
        body = as_body(ChangeCloseIn, {"reason": form.get("reason", "")})
    except LabgateError as error:
        return await _refused(request, who, site, code, error, attempt)
    ctx = context(request, who.account.username)
    command: Command = (RejectChangeRequest(ctx, site, code, body.reason) if done == "rejected"
                        else WithdrawChangeRequest(ctx, site, code, body.reason))  # fmt: skip
    return await _send(request, who, site, code, command, done, attempt)


async def _send(
    request: Request, who: Visitor, site: str, code: str, command: Command, done: str,
    attempt: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    try:
        await run_in_threadpool(hub_of(request).bus.handle, command)
        if isinstance(command, ApproveChangeRequest):  # what came into force, in the ICD
            await run_in_threadpool(refresh_icd, hub_of(request), command.ctx, [site])
    except LabgateError as error:
        return await _refused(request, who, site, code, error, attempt or {})
    return _back(request, site, code, done)


async def _refused(
    request: Request, who: Visitor, site: str, code: str, error: LabgateError,
    attempt: dict[str, str],
) -> Response:  # fmt: skip
    # Read first: an unknown request is the 404 page (audited there, once).
    values = await run_in_threadpool(request_values, request, who, site, code)
    await audit(request, error)
    values["refused"], values["attempt"] = error, attempt  # never the password
    return page(request, "change_request.html", values, status=http_status(error))


def _back(request: Request, site: str, code: str, done: str) -> Response:
    """Post/redirect/get: reloading the page afterwards sends nothing again."""
    return RedirectResponse(
        f"{prefix(request)}/sites/{site}/change-requests/{code}?done={done}", status_code=303
    )
