"""Stability studies (protocol, QA approval, pulls, trend, Q1E shelf-life report) and
out-of-trend alerts."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, Field, StrictStr
from starlette.concurrency import run_in_threadpool

from labgate.adapters.reports.stability_report import (
    report_content,
    report_document,
    series_plot,
    with_estimates,
)
from labgate.adapters.store import stability_views as views
from labgate.adapters.store.document_facts import readable
from labgate.compliance.access import Account, Permission
from labgate.compliance.signed_actions import SignedAction
from labgate.domain import stability_commands as sc
from labgate.domain.commands import Command
from labgate.domain.trending import AlertStatus
from labgate.entrypoints.api.answers.stability import (
    STABILITY_PEOPLE,
    AlertItem,
    AlertView,
    PullAnswer,
    PullDueAnswer,
    StabilityReport,
    StudyItem,
    StudyView,
    TrendView,
)
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import document_responses, refuses
from labgate.entrypoints.api.paging import Cursor, Page, PageLimit, decode_cursor, page_of
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import (
    Body,
    ReasonIn,
    SignatureIn,
    SignedAs,
    StudyApprovalIn,
)
from labgate.entrypoints.api.scope import SiteScope
from labgate.service.messages import code

router = APIRouter(prefix="/api/v1/sites/{site}", tags=["stability"], dependencies=[SiteScope])
_NUMBER = r"^-?\d{1,6}(\.\d{1,6})?$"


class CriterionIn(Body):
    """An acceptance criterion stated in the protocol for one test (else the spec's limit)."""

    test: StrictStr = code()
    lower: StrictStr | None = Field(None, pattern=_NUMBER)
    upper: StrictStr | None = Field(None, pattern=_NUMBER)


class ConditionIn(Body):
    """A storage condition and its time points (months from t=0)."""

    condition: StrictStr = Field(min_length=1, max_length=64)
    time_points: list[Annotated[int, Field(ge=0, le=120)]] = Field(min_length=1, max_length=30)


class StudyIn(Body):
    """A study's protocol: the first condition is the long-term one."""

    product: StrictStr = code()
    batch: StrictStr = code()
    conditions: list[ConditionIn] = Field(min_length=1, max_length=10)
    tests: list[StrictStr] = Field(min_length=1, max_length=50)
    start_at: AwareDatetime
    window_days: int = Field(7, ge=0, le=60)
    criteria: list[CriterionIn] = Field(default_factory=list, max_length=50)


class PullIn(Body):
    """A pull done by the lab; outside the window it needs a reason."""

    condition: StrictStr = Field(min_length=1, max_length=64)
    time_point: int = Field(ge=0, le=120)
    pulled_at: AwareDatetime | None = None
    reason: StrictStr | None = Field(None, min_length=1, max_length=2000)


class DueIn(Body):
    """The scheduler's run: pull what is due as of this time."""

    as_of: AwareDatetime


class AssessmentIn(Body):
    """A reviewer's or QA's assessment of an OOT alert, signed."""

    assessment: StrictStr = Field(min_length=1, max_length=4000)
    signature: Annotated[SignatureIn, SignedAs(SignedAction.ACKNOWLEDGE_OOT)]


class StudyCancellationIn(Body):
    """Why a study is cancelled, and the e-signature of who decides it."""

    reason: StrictStr = Field(min_length=1, max_length=2000)
    signature: Annotated[SignatureIn, SignedAs(SignedAction.CANCEL_STUDY)]


async def _run(request: Request, command: Command) -> Any:
    return await run_in_threadpool(hub_of(request).bus.handle, command)


def _study(request: Request, site: str, study: str) -> StudyView:
    """The study as people read it: site-local times and printed names beside UTC and ids."""
    hub = hub_of(request)
    with hub.sessions() as session:
        view = views.study_view(session, site, study, hub.bus.deps.clock.now())
        return StudyView.model_validate(readable(session, site, view, STABILITY_PEOPLE))


def _alert(request: Request, site: str, alert: str) -> AlertView:
    with hub_of(request).sessions() as session:
        return AlertView.model_validate(
            readable(session, site, views.alert_view(session, site, alert), STABILITY_PEOPLE)
        )


# The refusals of the rules each operation reaches (handlers stability, oot_alerts).
SIGNATURE_401 = ("signature.bad_credentials", "auth.locked")
STUDY_404 = ("stability_study.unknown",)
TRANSITION = ("stability_study.invalid_transition",)
TREND_409 = ("stability.too_few_data",)
PAGE_422 = ("page.cursor_invalid",)


@router.post(
    "/stability-studies",
    status_code=201,
    summary="Write a stability protocol (draft)",
    openapi_extra=refuses(
        {
            404: ("product.unknown", "batch.unknown"),
            409: ("stability.batch_not_of_product", "spec.none_in_force"),
            422: (
                "stability.conditions_invalid",
                "stability.condition_format",
                "stability.window_range",
                "stability.time_points_order",
                "stability.time_points_range",
                "stability.tests_invalid",
                "stability.test_not_in_spec",
                "stability.criterion_not_pulled",
                "stability.criterion_missing",
                "stability.criterion_inverted",
            ),
        }
    ),
)
async def create_study(
    request: Request, site: str, body: StudyIn, _: Account = allowed(Permission.MANAGE_STABILITY)
) -> StudyView:
    """Criteria not stated come from the product's specification in force at t=0."""
    criteria = tuple((c.test, c.lower, c.upper) for c in body.criteria)
    command = sc.CreateStudy(
        await request_context(request),
        site,
        body.product,
        body.batch,
        tuple((c.condition, tuple(c.time_points)) for c in body.conditions),
        tuple(body.tests),
        body.start_at,
        body.window_days,
        criteria,
    )
    return _study(request, site, await _run(request, command))


@router.get(
    "/stability-studies",
    summary="The site's stability studies",
    openapi_extra=refuses({422: PAGE_422}),
)
def list_studies(
    request: Request,
    site: str,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[StudyItem]:
    """Newest first, one page at a time."""
    after = decode_cursor("stability-studies", cursor)
    with hub_of(request).sessions() as session:
        found = views.studies_page(session, site, after, limit)
    return page_of(request, "stability-studies", found, StudyItem, limit)


@router.get(
    "/stability-studies/{study}",
    summary="A study: protocol, schedule, pulls",
    openapi_extra=refuses({404: STUDY_404}),
)
def get_study(
    request: Request, site: str, study: str, _: Account = allowed(Permission.READ)
) -> StudyView:
    """Each scheduled pull as planned, due, overdue or pulled (with its sample)."""
    return _study(request, site, study)


@router.post(
    "/stability-studies/{study}/approval",
    summary="QA: approve the protocol, signed",
    openapi_extra=refuses(
        {
            401: SIGNATURE_401,
            403: ("stability.approver_is_author",),
            404: STUDY_404,
            409: TRANSITION,
            422: ("signature.wrong_meaning",),
        }
    ),
)
async def approve_study(
    request: Request,
    site: str,
    study: str,
    body: StudyApprovalIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> StudyView:
    """Never by the protocol's author (segregation of duties)."""
    ctx = await request_context(request)
    await _run(request, sc.ApproveStudy(ctx, site, study, body.signature.to_input()))
    return _study(request, site, study)


@router.post(
    "/stability-studies/{study}/completion",
    summary="Complete a study",
    openapi_extra=refuses(
        {
            404: STUDY_404,
            409: TRANSITION,
            422: ("input.reason_required", "input.reason_too_short"),
        }
    ),
)
async def complete_study(
    request: Request,
    site: str,
    study: str,
    body: ReasonIn,
    _: Account = allowed(Permission.MANAGE_STABILITY),
) -> StudyView:
    """With a reason; audited."""
    await _run(
        request, sc.CloseStudy(await request_context(request), site, study, False, body.reason)
    )
    return _study(request, site, study)


@router.post(
    "/stability-studies/{study}/cancellation",
    summary="Cancel a study, signed",
    openapi_extra=refuses(
        {
            401: SIGNATURE_401,
            404: STUDY_404,
            409: TRANSITION,
            422: (
                "input.reason_required",
                "input.reason_too_short",
                "signature.required",
                "signature.wrong_meaning",
            ),
        }
    ),
)
async def cancel_study(
    request: Request,
    site: str,
    study: str,
    body: StudyCancellationIn,
    _: Account = allowed(Permission.MANAGE_STABILITY),
) -> StudyView:
    """With a reason and an e-signature; audited. Samples already pulled stay."""
    command = sc.CloseStudy(
        await request_context(request), site, study, True, body.reason, body.signature.to_input()
    )
    await _run(request, command)
    return _study(request, site, study)


@router.post(
    "/stability-studies/{study}/pulls",
    status_code=201,
    summary="Pull a time point",
    openapi_extra=refuses(
        {
            404: (*STUDY_404, "stability.pull_not_scheduled", "product.unknown"),
            409: (
                "stability.study_not_active",
                "stability.already_pulled",
                "spec.none_in_force",
            ),
            422: ("stability.pulled_in_future", "stability.pull_outside_window"),
        }
    ),
)
async def pull(
    request: Request,
    site: str,
    study: str,
    body: PullIn,
    _: Account = allowed(Permission.REGISTER_SAMPLE),
) -> PullAnswer:
    """Creates and registers the pull's sample with the study's tests planned."""
    command = sc.PullStability(
        await request_context(request),
        site,
        study,
        body.condition,
        body.time_point,
        body.pulled_at,
        body.reason,
    )
    sample = await _run(request, command)
    return PullAnswer(sample=sample, study=_study(request, site, study))


@router.post(
    "/stability-pulls/due",
    summary="Scheduler: pull everything due as of a time",
    openapi_extra=refuses(
        {
            404: ("product.unknown",),
            409: ("spec.none_in_force",),
            422: ("stability.as_of_in_future",),
        }
    ),
)
async def pull_due(
    request: Request, site: str, body: DueIn, _: Account = allowed(Permission.REGISTER_SAMPLE)
) -> PullDueAnswer:
    """Pulls whose window has closed are listed for a person (they need a reason)."""
    outcome = await _run(request, sc.PullDue(await request_context(request), site, body.as_of))
    return PullDueAnswer.model_validate({"pulled": outcome.pulled, "skipped": outcome.skipped})


@router.get(
    "/stability-studies/{study}/trend",
    summary="Trend data and Q1E shelf life",
    openapi_extra=refuses({404: STUDY_404}),
)
def get_trend(
    request: Request, site: str, study: str, _: Account = allowed(Permission.READ)
) -> TrendView:
    """Per test and condition: approved results of every batch of the product on it, and the
    Q1E estimate when the data carry one (else `shelf_life: null` and the reason)."""
    with hub_of(request).sessions() as session:
        trend = with_estimates(views.trend_data(session, site, study))
    return TrendView.model_validate(trend)


@router.get(
    "/stability-studies/{study}/report",
    summary="The shelf-life report",
    response_class=Response,
    responses=document_responses(
        "The report: PDF (default), HTML, or its data as canonical JSON.", StabilityReport
    ),
    openapi_extra=refuses({404: STUDY_404, 409: TREND_409}),
)
def get_report(
    request: Request,
    site: str,
    study: str,
    format: Annotated[Literal["json", "html", "pdf"], Query()] = "pdf",
    _: Account = allowed(Permission.READ),
) -> Response:
    """Q1E estimate, plot, data; 409 `stability.too_few_data` until the data carry one. The same
    data give the same bytes; `Repr-Digest` carries their SHA-256 (RFC 9530)."""
    with hub_of(request).sessions() as session:
        content = report_content(views.trend_data(session, site, study))
    document = report_document(content, format)
    headers = {"Repr-Digest": f"sha-256=:{base64.b64encode(document.sha256).decode()}:"}
    if format == "pdf":
        headers["Content-Disposition"] = f'inline; filename="{document.filename}"'
    return Response(document.data, media_type=document.media_type, headers=headers)


@router.get(
    "/stability-studies/{study}/plot",
    summary="The Q1E plot of one test (PNG)",
    response_class=Response,
    responses={
        200: {
            "description": "The plot.",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    openapi_extra=refuses({404: (*STUDY_404, "stability.series_unknown"), 409: TREND_409}),
)
def get_plot(
    request: Request,
    site: str,
    study: str,
    test: str,
    condition: str | None = None,
    _: Account = allowed(Permission.READ),
) -> Response:
    """At the long-term condition unless another is named."""
    with hub_of(request).sessions() as session:
        trend = views.trend_data(session, site, study)
    return Response(series_plot(trend, test, condition), media_type="image/png")


@router.get(
    "/oot-alerts",
    summary="Out-of-trend alerts, newest first",
    openapi_extra=refuses({422: PAGE_422}),
)
def list_alerts(
    request: Request,
    site: str,
    batch: str | None = None,
    status: AlertStatus | None = None,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[AlertItem]:
    """Of the site, or one batch; `status=open` for those awaiting assessment."""
    after = decode_cursor("oot-alerts", cursor)
    with hub_of(request).sessions() as session:
        found = views.alerts_page(session, site, batch, status, after, limit)
    return page_of(request, "oot-alerts", found, AlertItem, limit)


@router.get(
    "/oot-alerts/{alert}",
    summary="An OOT alert",
    openapi_extra=refuses({404: ("oot_alert.unknown",)}),
)
def get_alert(
    request: Request, site: str, alert: str, _: Account = allowed(Permission.READ)
) -> AlertView:
    """The chart's numbers and, once assessed, the signed assessment."""
    return _alert(request, site, alert)


@router.post(
    "/oot-alerts/{alert}/acknowledgement",
    summary="Assess an OOT alert, signed",
    openapi_extra=refuses(
        {
            401: SIGNATURE_401,
            403: ("oot.assessor_is_analyst",),
            404: ("oot_alert.unknown",),
            409: ("oot.withdrawn", "oot.already_acknowledged"),
            422: ("oot.assessment_required", "input.reason_too_short", "signature.wrong_meaning"),
        }
    ),
)
async def acknowledge_alert(
    request: Request,
    site: str,
    alert: str,
    body: AssessmentIn,
    _: Account = allowed(Permission.ACKNOWLEDGE_OOT),
) -> AlertView:
    """A reviewer or QA, never the result's analyst; the result itself is not changed."""
    command = sc.AcknowledgeOotAlert(
        await request_context(request), site, alert, body.assessment, body.signature.to_input()
    )
    await _run(request, command)
    return _alert(request, site, alert)
