"""QA disposition of a batch (release lives in lab.py; rejection here), review by exception, and
the batch dossier."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field, StrictStr
from starlette.concurrency import run_in_threadpool

from labgate.adapters.reports.dossier import dossier_document
from labgate.adapters.store.document_facts import readable
from labgate.adapters.store.dossier_view import dossier, review
from labgate.compliance.access import Account, Permission
from labgate.compliance.signed_actions import SignedAction
from labgate.domain import commands as c
from labgate.entrypoints.api.answers.batches import BatchReview, BatchView
from labgate.entrypoints.api.answers.documents import Dossier, document_responses
from labgate.entrypoints.api.auth import hub_of, require
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes import lab_refusals as no
from labgate.entrypoints.api.routes.lab import batch_shown
from labgate.entrypoints.api.schemas import Body, SignatureIn, SignedAs
from labgate.entrypoints.api.scope import SiteScope

router = APIRouter(
    prefix="/api/v1/sites/{site}", tags=["batch disposition"], dependencies=[SiteScope]
)


class RejectionIn(Body):
    """QA's rejection: why, and an e-signature with the meaning 'rejected'."""

    reason: StrictStr = Field(min_length=1, max_length=2000)
    signature: Annotated[SignatureIn, SignedAs(SignedAction.REJECT_BATCH)]


@router.post(
    "/batches/{batch}/rejection",
    summary="QA: reject a batch with e-signature",
    response_model=BatchView,
    openapi_extra=refuses(no.merged(no.SIGNED, no.BATCH_UNKNOWN, {409: no.DISPOSED})),
)
async def reject_batch(
    request: Request,
    site: str,
    batch: str,
    body: RejectionIn,
    _: Account = Depends(require(Permission.RELEASE_BATCH)),
) -> dict[str, Any]:
    """Signed, audited and told to the MES (`labgate.batch_disposition.v1`); once per batch."""
    command = c.RejectBatch(
        await request_context(request), site, batch, body.reason, body.signature.to_input()
    )
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return batch_shown(request, site, batch)


@router.get(
    "/batches/{batch}/review",
    summary="Review by exception",
    response_model=BatchReview,
    # A finding names its record under the record's own key: only that key is present.
    response_model_exclude_unset=True,
    openapi_extra=refuses(no.BATCH_UNKNOWN),
)
def get_review(
    request: Request, site: str, batch: str, _: Account = Depends(require(Permission.READ))
) -> dict[str, Any]:
    """Every item that needs review, and why; none means ready by exception."""
    hub = hub_of(request)
    with hub.sessions() as session:
        found = review(session, site, batch, hub.bus.deps.clock.now())
        shown: dict[str, Any] = readable(session, site, found)
        return shown


@router.get(
    "/batches/{batch}/dossier",
    summary="The batch dossier (EBR with lab evidence)",
    responses=document_responses("batch dossier", Dossier),
    openapi_extra=refuses(no.BATCH_UNKNOWN),
)
def get_dossier(
    request: Request,
    site: str,
    batch: str,
    format: Annotated[Literal["json", "html", "pdf"], Query()] = "pdf",
    _: Account = Depends(require(Permission.READ)),
) -> Response:
    """Procedure, samples, results with provenance, deviations, audit excerpts, disposition and
    whether any data changed after entry; the same records give the same bytes (`Repr-Digest`)."""
    with hub_of(request).sessions() as session:
        content = dossier(session, site, batch)
    document = dossier_document(content, format)
    headers = {"Repr-Digest": f"sha-256=:{base64.b64encode(document.sha256).decode()}:"}
    if format == "pdf":
        headers["Content-Disposition"] = f'inline; filename="{document.filename}"'
    return Response(document.data, media_type=document.media_type, headers=headers)
