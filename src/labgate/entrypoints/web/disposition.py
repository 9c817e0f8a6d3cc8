"""QA's disposition of a batch from its page: release and rejection, each with an e-signature
whose meaning the action fixes, through the very bus commands POST .../batches/{batch}/release
and /rejection send (the signature, the permission, the blockers and "once per batch" are the
handlers' rules). Post/redirect/get on success; a refusal is shown on the batch page with its
reason code, and audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from labgate.compliance.access import Permission
from labgate.compliance.signatures import Meaning
from labgate.domain.commands import RejectBatch, ReleaseBatch, SignatureInput
from labgate.domain.errors import LabgateError, NotFound
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.batches import batch_values
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix

router = APIRouter()
Disposing = Annotated[Visitor, Depends(allowed(Permission.RELEASE_BATCH))]


async def _signed(
    request: Request, who: Visitor, site: str, batch: str, meaning: Meaning
) -> Response:
    form = await posted_form(request, who)
    signature = SignatureInput(form.get("username", ""), form.get("password", ""), meaning.value)
    ctx = context(request, who.account.username)
    command: ReleaseBatch | RejectBatch
    if meaning is Meaning.RELEASED:
        command = ReleaseBatch(ctx, site, batch, signature)
    else:
        command = RejectBatch(ctx, site, batch, form.get("reason", ""), signature)
    try:
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except NotFound:
        raise  # no batch page to show it on: the refusal page (the bus has audited it)
    except LabgateError as error:
        await audit(request, error)
        values = await run_in_threadpool(batch_values, request, who, site, batch)
        values["refused"] = error
        return page(request, "batch.html", values, status=http_status(error))
    # Post/redirect/get: reloading the page afterwards does not send the signature again.
    where = f"{prefix(request)}/sites/{site}/batches/{batch}?done={meaning.value}"
    return RedirectResponse(where, status_code=303)


@router.post("/sites/{site}/batches/{batch}/release", name="batch_release")
async def release(request: Request, site: str, batch: str, who: Disposing) -> Response:
    """Release with an e-signature whose meaning is fixed: released."""
    return await _signed(request, who, site, batch, Meaning.RELEASED)


@router.post("/sites/{site}/batches/{batch}/rejection", name="batch_reject")
async def reject(request: Request, site: str, batch: str, who: Disposing) -> Response:
    """Reject with a reason and an e-signature whose meaning is fixed: rejected."""
    return await _signed(request, who, site, batch, Meaning.REJECTED)
