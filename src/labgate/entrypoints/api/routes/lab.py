"""Samples, results and batches: the MES side, the LIMS side and the native lab."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.reports.certificate import certificate_document
from labgate.adapters.store import tables as t
from labgate.adapters.store import views
from labgate.adapters.store.certificate_view import certificate
from labgate.adapters.store.document_facts import readable
from labgate.adapters.store.gate_view import batch_gates
from labgate.adapters.store.lists import SampleFilter, Slice, samples_query, take
from labgate.compliance.access import Account, Permission
from labgate.domain import commands as c
from labgate.domain.errors import NotFound
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.samples import Sample
from labgate.entrypoints.api.answers.batches import BatchGates, BatchView
from labgate.entrypoints.api.answers.documents import Certificate, document_responses
from labgate.entrypoints.api.answers.samples import SampleItem, SampleView
from labgate.entrypoints.api.auth import hub_of, require
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.paging import Cursor, Page, PageLimit, decode_cursor, page_of
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes import lab_refusals as no
from labgate.entrypoints.api.schemas import (
    ApprovalIn,
    InvalidationIn,
    NativeSampleIn,
    ReasonIn,
    RegistrationIn,
    ReleaseIn,
    ResultIn,
    ReviewedResultIn,
    SampleRequestIn,
)
from labgate.entrypoints.api.scope import SiteScope

Key = Annotated[str | None, Query(min_length=1, max_length=64)]
router = APIRouter(
    prefix="/api/v1/sites/{site}", tags=["samples and results"], dependencies=[SiteScope]
)


def allowed(permission: Permission) -> Any:
    """Shorthand for a route's one permission."""
    return Depends(require(permission))


def _sample(request: Request, site: str, code: str) -> dict[str, Any]:
    with hub_of(request).sessions() as session:
        shown: dict[str, Any] = readable(session, site, views.sample_view(session, site, code))
        return shown


def listed(found: Slice) -> Slice:
    """A page's rows without their row ids: the key to continue after is the cursor's, and the
    typed items declare every member they carry."""
    return Slice([{k: v for k, v in row.items() if k != "id"} for row in found.rows], found.last_id)


def batch_shown(request: Request, site: str, code: str) -> dict[str, Any]:
    """The batch view as a person at the site reads it (local times, printed names)."""
    with hub_of(request).sessions() as session:
        shown: dict[str, Any] = readable(session, site, views.batch_view(session, site, code))
        return shown


@router.post(
    "/sample-requests",
    status_code=201,
    summary="MES: request a sample",
    response_model=SampleView,
    responses={200: {"model": SampleView, "description": "A re-sent request: the same sample."}},
    openapi_extra=refuses(no.SAMPLE_MADE),
)
async def request_sample(
    request: Request,
    response: Response,
    site: str,
    body: SampleRequestIn,
    _: Account = allowed(Permission.REQUEST_SAMPLE),
) -> dict[str, Any]:
    """Bind the spec in force at sampling time; a re-sent request id returns the same sample."""
    with hub_of(request).sessions() as session:
        known = session.scalars(
            select(Sample).filter_by(site=site, mes_request_id=body.mes_request_id)
        ).one_or_none()
    command = c.RequestSample(
        await request_context(request),
        site,
        register_now=False,
        characteristics=tuple(body.characteristics),
        **body.model_dump(exclude={"characteristics"}),
    )
    code = await run_in_threadpool(hub_of(request).bus.handle, command)
    if known is not None:
        response.status_code = 200
    return _sample(request, site, code)


@router.get(
    "/sample-requests/{mes_request_id}",
    summary="A sample by the MES's request id",
    response_model=SampleView,
    openapi_extra=refuses({404: ("sample_request.unknown",)}),
)
def sample_by_request(
    request: Request, site: str, mes_request_id: str, _: Account = allowed(Permission.READ)
) -> dict[str, Any]:
    """The sample made for an MES request."""
    with hub_of(request).sessions() as session:
        sample = session.scalars(
            select(Sample).filter_by(site=site, mes_request_id=mes_request_id)
        ).one_or_none()
        if sample is None:
            raise NotFound(
                f"No sample for MES request {mes_request_id} in site {site}.",
                reason="sample_request.unknown",
                field="mes_request_id",
            )
        shown: dict[str, Any] = readable(
            session, site, views.sample_view(session, site, sample.code)
        )
        return shown


@router.post(
    "/samples",
    status_code=201,
    summary="Native lab: register a sample",
    response_model=SampleView,
    openapi_extra=refuses(no.SAMPLE_MADE),
)
async def register_native_sample(
    request: Request,
    site: str,
    body: NativeSampleIn,
    _: Account = allowed(Permission.REGISTER_SAMPLE),
) -> dict[str, Any]:
    """A sample taken and registered inside labgate, with no MES request."""
    command = c.RequestSample(
        await request_context(request), site, None, register_now=True, **body.model_dump()
    )
    return _sample(request, site, await run_in_threadpool(hub_of(request).bus.handle, command))


@router.get("/samples", summary="List samples, newest first", openapi_extra=refuses(no.PAGED))
def list_samples(
    request: Request,
    site: str,
    batch: Key = None,
    product: Key = None,
    status: SampleStatus | None = None,
    sampling_point: Key = None,
    lot: Key = None,
    sampled_from: Annotated[AwareDatetime | None, Query(description="Sampled at or after.")] = None,
    sampled_to: Annotated[AwareDatetime | None, Query(description="Sampled before.")] = None,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[SampleItem]:
    """Samples of a site, filtered, one page at a time."""
    after = decode_cursor("samples", cursor)
    where = SampleFilter(batch, product, status, sampling_point, lot, sampled_from, sampled_to)
    with hub_of(request).sessions() as session:
        found = take(session, samples_query(site, where), t.samples.c.id, after, limit, "newest")
    return page_of(request, "samples", listed(found), SampleItem, limit)


@router.get(
    "/samples/{sample}",
    summary="A sample with its tests, results and signatures",
    response_model=SampleView,
    openapi_extra=refuses({404: ("sample.unknown",)}),
)
def get_sample(
    request: Request, site: str, sample: str, _: Account = allowed(Permission.READ)
) -> dict[str, Any]:
    """Everything about one sample, signatures shown with printed name, time and meaning."""
    return _sample(request, site, sample)


@router.post(
    "/samples/{sample}/registration",
    summary="Lab: acknowledge a sample",
    response_model=SampleView,
    openapi_extra=refuses({404: ("sample.unknown",), 409: ("sample.invalid_transition",)}),
)
async def register_sample(
    request: Request,
    site: str,
    sample: str,
    body: RegistrationIn,
    _: Account = allowed(Permission.REGISTER_SAMPLE),
) -> dict[str, Any]:
    """The lab has the sample; its ids go back to the MES."""
    command = c.RegisterSample(await request_context(request), site, sample, body.lims_sample_id)
    return _sample(request, site, await run_in_threadpool(hub_of(request).bus.handle, command))


@router.post(
    "/samples/{sample}/cancellation",
    summary="Cancel a sample",
    response_model=SampleView,
    openapi_extra=refuses({404: ("sample.unknown",), 409: ("sample.invalid_transition",)}),
)
async def cancel_sample(
    request: Request,
    site: str,
    sample: str,
    body: ReasonIn,
    _: Account = allowed(Permission.CANCEL_SAMPLE),
) -> dict[str, Any]:
    """Cancel with a reason; nothing is deleted."""
    command = c.CancelSample(await request_context(request), site, sample, body.reason)
    return _sample(request, site, await run_in_threadpool(hub_of(request).bus.handle, command))


@router.post(
    "/results",
    status_code=201,
    summary="Lab: report a preliminary result",
    response_model=SampleView,
    openapi_extra=refuses(no.RESULT_RECORDED),
)
async def record_result(
    request: Request, site: str, body: ResultIn, _: Account = allowed(Permission.ENTER_RESULT)
) -> dict[str, Any]:
    """Stored, converted, rounded and evaluated; the MES sees Pending until review."""
    command = c.RecordResult(await request_context(request), site, **body.model_dump())
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return _sample(request, site, body.sample)


@router.post(
    "/results/reviewed",
    status_code=201,
    summary="LIMS: report a reviewed result",
    response_model=SampleView,
    openapi_extra=refuses(no.merged(no.RESULT_RECORDED, no.REVIEWED_ELSEWHERE)),
)
async def record_reviewed_result(
    request: Request,
    site: str,
    body: ReviewedResultIn,
    _: Account = allowed(Permission.POST_REVIEWED_RESULT),
) -> dict[str, Any]:
    """A result approved in the external LIMS, with its reviewer and approval time."""
    command = c.RecordResult(
        await request_context(request), site, lims_status="approved", **body.model_dump()
    )
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return _sample(request, site, body.sample)


@router.post(
    "/results/{result}/approval",
    summary="Native lab: approve with e-signature",
    response_model=SampleView,
    openapi_extra=refuses(no.merged(no.SIGNED, no.RESULT_APPROVED)),
)
async def approve_result(
    request: Request,
    site: str,
    result: str,
    body: ApprovalIn,
    _: Account = allowed(Permission.APPROVE_RESULT),
) -> dict[str, Any]:
    """The reviewer re-enters user id and password; the reviewer is never the analyst."""
    command = c.ApproveResult(
        await request_context(request), site, result, body.signature.to_input()
    )
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return _sample(request, site, result.rpartition("-R")[0])


@router.post(
    "/results/{result}/invalidation",
    summary="Invalidate a result",
    response_model=SampleView,
    openapi_extra=refuses(no.merged(no.SIGNED, no.RESULT_INVALIDATED)),
)
async def invalidate_result(
    request: Request,
    site: str,
    result: str,
    body: InvalidationIn,
    _: Account = allowed(Permission.INVALIDATE_RESULT),
) -> dict[str, Any]:
    """The result is kept, marked invalidated, and superseded by its retest."""
    signature = body.signature.to_input() if body.signature else None
    command = c.InvalidateResult(
        await request_context(request), site, result, body.reason, signature
    )
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return _sample(request, site, result.rpartition("-R")[0])


@router.get(
    "/batches/{batch}",
    summary="A batch and the MES status of its samples",
    response_model=BatchView,
    openapi_extra=refuses(no.BATCH_UNKNOWN),
)
def get_batch(
    request: Request, site: str, batch: str, _: Account = allowed(Permission.READ)
) -> dict[str, Any]:
    """Pending, Accepted or Rejected, from reviewed results only."""
    return batch_shown(request, site, batch)


@router.get(
    "/batches/{batch}/gates",
    summary="IPC gates: may each operation complete?",
    response_model=BatchGates,
    openapi_extra=refuses(no.BATCH_UNKNOWN),
)
def get_gates(
    request: Request, site: str, batch: str, _: Account = allowed(Permission.READ)
) -> dict[str, Any]:
    """Per operation with sampling points: may it complete, and per point why (block, allow
    with deviation, informative)."""
    with hub_of(request).sessions() as session:
        return batch_gates(session, site, batch)


@router.get(
    "/batches/{batch}/coa",
    summary="The batch's Certificate of Analysis",
    responses=document_responses("Certificate of Analysis", Certificate),
    openapi_extra=refuses({404: ("batch.unknown",), 409: ("coa.incomplete",)}),
)
def get_certificate(
    request: Request,
    site: str,
    batch: str,
    format: Annotated[Literal["json", "html", "pdf"], Query()] = "pdf",
    _: Account = allowed(Permission.READ),
) -> Response:
    """From approved results only; 409 `coa.incomplete` names every test still without one.
    The same records give the same bytes; `Repr-Digest` carries their SHA-256 (RFC 9530) and
    the document prints the SHA-256 of its data."""
    with hub_of(request).sessions() as session:
        content = certificate(session, site, batch)
    document = certificate_document(content, format)
    headers = {"Repr-Digest": f"sha-256=:{base64.b64encode(document.sha256).decode()}:"}
    if format == "pdf":
        headers["Content-Disposition"] = f'inline; filename="{document.filename}"'
    return Response(document.data, media_type=document.media_type, headers=headers)


@router.post(
    "/batches/{batch}/release",
    summary="QA: release a batch with e-signature",
    response_model=BatchView,
    openapi_extra=refuses(
        no.merged(no.SIGNED, no.BATCH_UNKNOWN, {409: (*no.DISPOSED, *no.RELEASE_BLOCKED)})
    ),
)
async def release_batch(
    request: Request,
    site: str,
    batch: str,
    body: ReleaseIn,
    _: Account = allowed(Permission.RELEASE_BATCH),
) -> dict[str, Any]:
    """Refused while any result is preliminary, rejected or missing."""
    command = c.ReleaseBatch(await request_context(request), site, batch, body.signature.to_input())
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return batch_shown(request, site, batch)
