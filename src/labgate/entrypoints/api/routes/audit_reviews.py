"""Periodic audit-trail reviews (Annex 11 §9): compute one for a period, read it, mark its spot
check, sign it off, print it; the list says which months are overdue."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from labgate.adapters.reports.audit_review_report import review_document
from labgate.adapters.store.audit_review_view import overdue_periods, review_items, review_record
from labgate.compliance.access import Account, Permission
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.commands import Command
from labgate.domain.review_commands import CreateAuditReview, MarkSpotCheck, SignOffAuditReview
from labgate.entrypoints.api.answers.audit_reviews import AuditReviewList, AuditReviewView
from labgate.entrypoints.api.answers.documents import document_responses
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes import lab_refusals as no
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import INT32_MAX, Body, SignatureIn, SignedAs
from labgate.entrypoints.api.scope import SiteScope
from labgate.service.messages import UtcDatetime, code, reason_text

router = APIRouter(
    prefix="/api/v1/sites/{site}/audit-reviews", tags=["evidence"], dependencies=[SiteScope]
)

UNKNOWN = {404: ("audit_review.unknown",)}
DRAFT_ONLY = {409: ("audit_review.signed_off",)}


class ReviewIn(Body):
    """The period (UTC; `to` exclusive and already past), one interface or all, and the spot
    check: its size and, to repeat a draw, its seed."""

    period_from: UtcDatetime = Field(alias="from")
    period_to: UtcDatetime = Field(alias="to")
    source: StrictStr | None = code(None)
    seed: StrictInt | None = Field(None, ge=0, le=2**53 - 1)
    sample_size: StrictInt = Field(5, ge=0, le=50)


class MarkIn(Body):
    """The reviewer's mark on one sampled transaction, and a note (required for a finding)."""

    mark: Literal["checked", "finding"]
    note: StrictStr = Field("", max_length=2000)


class SignOffIn(Body):
    """The reviewer's conclusion and an e-signature with the meaning 'reviewed'."""

    comment: StrictStr = reason_text()
    signature: Annotated[SignatureIn, SignedAs(SignedAction.SIGN_OFF_TRAIL_REVIEW)]


MessageNo = Annotated[int, Field(ge=1, le=INT32_MAX)]


def _view(request: Request, site: str, review: str) -> dict[str, Any]:
    with hub_of(request).sessions() as session:
        return review_record(session, site, review)


async def _run(request: Request, command: Command) -> Any:
    return await run_in_threadpool(hub_of(request).bus.handle, command)


@router.get("", summary="Reviews of the audit trail, and the overdue periods")
def list_reviews(
    request: Request, site: str, _: Account = allowed(Permission.READ_AUDIT)
) -> AuditReviewList:
    """The site's reviews, newest first (the latest 100), and every calendar month whose review
    is overdue: not covered by a signed-off review of all interfaces LABGATE_AUDIT_REVIEW_DAYS
    after it ended."""
    hub = hub_of(request)
    days = hub.settings.audit_review_days
    with hub.sessions() as session:
        overdue = overdue_periods(session, site, hub.bus.deps.clock.now(), days)
        reviews = review_items(session, site)
    return AuditReviewList.model_validate(
        {"review_days": days, "overdue": overdue, "reviews": reviews}
    )


@router.post(
    "",
    status_code=201,
    summary="Compute a review of a period's audit trail",
    response_model=AuditReviewView,
    openapi_extra=refuses(
        {
            422: (
                "audit_review.period_empty",
                "audit_review.period_not_ended",
                "audit_review.sample_size",
                "audit_review.seed",
            )
        }
    ),
)
async def create_review(
    request: Request,
    site: str,
    body: ReviewIn,
    _: Account = allowed(Permission.REVIEW_AUDIT_TRAIL),
) -> dict[str, Any]:
    """Changes to GxP records, refusals, quarantine and reprocessing, manual interventions,
    privileged actions and failed sign-ins of the period, counted and listed, and a spot-check
    sample of the interfaced transactions applied in it, drawn with a recorded seed."""
    ctx = await request_context(request)
    command = CreateAuditReview(ctx, site, body.period_from, body.period_to, body.source,
                                body.seed, body.sample_size)  # fmt: skip
    made = await _run(request, command)
    return _view(request, site, made)


@router.get(
    "/{review}",
    summary="A review: its categories, spot check and sign-off",
    response_model=AuditReviewView,
    openapi_extra=refuses(UNKNOWN),
)
def get_review(
    request: Request, site: str, review: str, _: Account = allowed(Permission.READ_AUDIT)
) -> dict[str, Any]:
    """One review whole."""
    return _view(request, site, review)


@router.post(
    "/{review}/spot-check/{message}",
    summary="Mark one sampled transaction checked or a finding",
    response_model=AuditReviewView,
    openapi_extra=refuses(
        no.merged(
            UNKNOWN,
            DRAFT_ONLY,
            {
                422: (
                    "audit_review.note_required",
                    "audit_review.not_sampled",
                    "audit_review.bad_mark",
                )
            },
        )
    ),
)
async def mark_spot_check(
    request: Request,
    site: str,
    review: str,
    message: MessageNo,
    body: MarkIn,
    _: Account = allowed(Permission.REVIEW_AUDIT_TRAIL),
) -> dict[str, Any]:
    """The mark and note are audited; a signed-off review takes no more marks."""
    ctx = await request_context(request)
    await _run(request, MarkSpotCheck(ctx, site, review, message, body.mark, body.note))
    return _view(request, site, review)


@router.post(
    "/{review}/sign-off",
    summary="Sign a review off with e-signature 'reviewed'",
    response_model=AuditReviewView,
    openapi_extra=refuses(
        no.merged(
            no.SIGNED, UNKNOWN, DRAFT_ONLY,
            {403: ("audit_review.system_account", "audit_review.reviewer_reviews_self"),
             409: ("audit_review.spot_check_unmarked", "audit_review.trail_changed"),
             422: ("input.reason_required", "input.reason_too_short")},
        )
    ),
)  # fmt: skip
async def sign_off(
    request: Request,
    site: str,
    review: str,
    body: SignOffIn,
    _: Account = allowed(Permission.REVIEW_AUDIT_TRAIL),
) -> dict[str, Any]:
    """Refused while a sampled transaction is unmarked, by a system account, by a person who
    took privileged actions in the period, or when the trail no longer gives the content hash
    computed at creation (recomputed now)."""
    ctx, signature = await request_context(request), body.signature.to_input()
    await _run(request, SignOffAuditReview(ctx, site, review, body.comment, signature))
    return _view(request, site, review)


@router.get(
    "/{review}/report",
    summary="A review as a report (PDF, HTML or JSON)",
    responses=document_responses("audit-trail review", AuditReviewView),
    openapi_extra=refuses(UNKNOWN),
)
def report(
    request: Request,
    site: str,
    review: str,
    format: Annotated[Literal["json", "html", "pdf"], Query()] = "pdf",
    _: Account = allowed(Permission.READ_AUDIT),
) -> Response:
    """Every category's counts and entries, the spot check and its marks, the signature's
    manifestation, and (printed) the SHA-256 of the JSON."""
    document = review_document(_view(request, site, review), format)
    headers = {"Repr-Digest": f"sha-256=:{base64.b64encode(document.sha256).decode()}:"}
    if format == "pdf":
        headers["Content-Disposition"] = f'inline; filename="{document.filename}"'
    return Response(document.data, media_type=document.media_type, headers=headers)
