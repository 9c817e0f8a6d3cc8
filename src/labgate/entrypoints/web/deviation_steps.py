"""The three signed stages of a deviation from its workspace: phase I, phase II and closure.
Each form is read as the body the API's POST .../phase1, .../phase2, .../closure takes (the
same model, so the same field rules), then sent as the same bus command; the signature, its
fixed meaning, the order of the stages and segregation of duties are the handler's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from labgate.compliance.access import Permission
from labgate.domain.commands import Command, Context
from labgate.domain.deviation_commands import CloseDeviation, ConcludePhaseOne, ConcludePhaseTwo
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.api.schemas import ClosureIn, PhaseOneIn, PhaseTwoIn
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.deviations import meaning_of, workspace_values
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix

router = APIRouter()
Investigating = Annotated[Visitor, Depends(allowed(Permission.INVESTIGATE_DEVIATION))]
Closing = Annotated[Visitor, Depends(allowed(Permission.CLOSE_DEVIATION))]
# Each stage's body (the API's) and the form fields it takes besides the signature.
BODIES: dict[str, type[BaseModel]] = {"phase1": PhaseOneIn, "phase2": PhaseTwoIn,
                                      "closure": ClosureIn}  # fmt: skip
FIELDS = {"phase1": ("conclusion", "reason"), "phase2": ("conclusion", "rationale"),
          "closure": ("capa", "reason")}  # fmt: skip


def _body(step: str, form: dict[str, str]) -> Any:
    """The form as the API's body of the stage; refused by field and rule as the API does."""
    fields: dict[str, Any] = {name: form.get(name, "") for name in FIELDS[step]}
    if step == "closure":
        fields["capa"] = fields["capa"].strip() or None  # an empty box: no CAPA reference
    signature = {"username": form.get("username", ""), "password": form.get("password", ""),
                 "meaning": meaning_of(step)}  # fmt: skip
    try:
        return BODIES[step].model_validate({**fields, "signature": signature})
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        raise InvalidInput(
            f"{field or 'The form'}: {first.get('msg')}.",
            reason=f"input.{first.get('type', 'invalid')}",
            field=field,
        ) from None


def _command(step: str, ctx: Context, site: str, code: str, body: Any) -> Command:
    """The command the API's route sends for the same body."""
    signature = body.signature.to_input()
    if step == "phase1":
        return ConcludePhaseOne(ctx, site, code, body.conclusion, body.reason, signature)
    if step == "phase2":
        return ConcludePhaseTwo(ctx, site, code, body.conclusion, body.rationale, signature)
    return CloseDeviation(ctx, site, code, body.reason, signature, body.capa)


async def _signed(request: Request, who: Visitor, site: str, code: str, step: str) -> Response:
    form = await posted_form(request, who)
    try:
        command = _command(step, context(request, who.account.username), site, code,
                           _body(step, form))  # fmt: skip
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        # Read first: an unknown deviation is the 404 page (audited there, once).
        values = await run_in_threadpool(workspace_values, request, who, site, code)
        await audit(request, error)
        # The refusal on the page, the text the person wrote kept (never the password).
        values["refused"] = error
        values["attempt"] = {"step": step, **{name: form.get(name, "") for name in FIELDS[step]}}
        return page(request, "deviation.html", values, status=http_status(error))
    # Post/redirect/get: reloading the page afterwards does not send the signature again.
    return RedirectResponse(f"{prefix(request)}/sites/{site}/deviations/{code}?done={step}", 303)


@router.post("/sites/{site}/deviations/{deviation}/phase1", name="deviation_phase1")
async def conclude_phase_one(
    request: Request, site: str, deviation: str, who: Investigating
) -> Response:
    """Phase I (laboratory investigation), signed 'reviewed'."""
    return await _signed(request, who, site, deviation, "phase1")


@router.post("/sites/{site}/deviations/{deviation}/phase2", name="deviation_phase2")
async def conclude_phase_two(
    request: Request, site: str, deviation: str, who: Investigating
) -> Response:
    """Phase II (full-scale investigation), signed 'reviewed'."""
    return await _signed(request, who, site, deviation, "phase2")


@router.post("/sites/{site}/deviations/{deviation}/closure", name="deviation_closure")
async def close_deviation(request: Request, site: str, deviation: str, who: Closing) -> Response:
    """QA's closure, signed 'approved'."""
    return await _signed(request, who, site, deviation, "closure")
