"""Stability studies (protocol, QA approval, pulls, trend, Q1E shelf-life report) and
out-of-trend alerts."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, Field, StrictStr
from starlette.concurrency import run_in_threadpool

from labgate.adapters.charts import shelf_life_png
from labgate.adapters.reports.stability_report import (
    estimate_view,
    report_content,
    report_document,
    shelf_life_of,
)
from labgate.adapters.store import stability_views as views
from labgate.compliance.access import Account, Permission
from labgate.compliance.signed_actions import SignedAction
from labgate.domain import stability_commands as sc
from labgate.domain.commands import Command
from labgate.domain.errors import Conflict, InvalidInput, NotFound
from labgate.domain.trending import AlertStatus
from labgate.entrypoints.api.auth import hub_of
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


def _study(request: Request, site: str, study: str) -> dict[str, Any]:
    hub = hub_of(request)
    with hub.sessions() as session:
        return views.study_view(session, site, study, hub.bus.deps.clock.now())


@router.post("/stability-studies", status_code=201, summary="Write a stability protocol (draft)")
async def create_study(
    request: Request, site: str, body: StudyIn, _: Account = allowed(Permission.MANAGE_STABILITY)
) -> dict[str, Any]:
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


@router.get("/stability-studies", summary="The site's stability studies")
def list_studies(
    request: Request, site: str, _: Account = allowed(Permission.READ)
) -> dict[str, Any]:
    """Newest first."""
    with hub_of(request).sessions() as session:
        return {"items": views.studies_rows(session, site)}


@router.get("/stability-studies/{study}", summary="A study: protocol, schedule, pulls")
def get_study(
    request: Request, site: str, study: str, _: Account = allowed(Permission.READ)
) -> dict[str, Any]:
    """Each scheduled pull as planned, due, overdue or pulled (with its sample)."""
    return _study(request, site, study)


@router.post("/stability-studies/{study}/approval", summary="QA: approve the protocol, signed")
async def approve_study(
    request: Request,
    site: str,
    study: str,
    body: StudyApprovalIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> dict[str, Any]:
    """Never by the protocol's author (segregation of duties)."""
    ctx = await request_context(request)
    await _run(request, sc.ApproveStudy(ctx, site, study, body.signature.to_input()))
    return _study(request, site, study)


@router.post("/stability-studies/{study}/completion", summary="Complete a study")
async def complete_study(
    request: Request,
    site: str,
    study: str,
    body: ReasonIn,
    _: Account = allowed(Permission.MANAGE_STABILITY),
) -> dict[str, Any]:
    """With a reason; audited."""
    await _run(
        request, sc.CloseStudy(await request_context(request), site, study, False, body.reason)
    )
    return _study(request, site, study)


@router.post("/stability-studies/{study}/cancellation", summary="Cancel a study, signed")
async def cancel_study(
    request: Request,
    site: str,
    study: str,
    body: StudyCancellationIn,
    _: Account = allowed(Permission.MANAGE_STABILITY),
) -> dict[str, Any]:
    """With a reason and an e-signature; audited. Samples already pulled stay."""
    command = sc.CloseStudy(
        await request_context(request), site, study, True, body.reason, body.signature.to_input()
    )
    await _run(request, command)
    return _study(request, site, study)


@router.post("/stability-studies/{study}/pulls", status_code=201, summary="Pull a time point")
async def pull(
    request: Request,
    site: str,
    study: str,
    body: PullIn,
    _: Account = allowed(Permission.REGISTER_SAMPLE),
) -> dict[str, Any]:
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
    return {"sample": sample, "study": _study(request, site, study)}


@router.post("/stability-pulls/due", summary="Scheduler: pull everything due as of a time")
async def pull_due(
    request: Request, site: str, body: DueIn, _: Account = allowed(Permission.REGISTER_SAMPLE)
) -> dict[str, Any]:
    """Pulls whose window has closed are listed for a person (they need a reason)."""
    outcome = await _run(request, sc.PullDue(await request_context(request), site, body.as_of))
    return {"pulled": outcome.pulled, "skipped": outcome.skipped}


@router.get("/stability-studies/{study}/trend", summary="Trend data and Q1E shelf life")
def get_trend(
    request: Request, site: str, study: str, _: Account = allowed(Permission.READ)
) -> dict[str, Any]:
    """Per test and condition: approved results of every batch of the product on it, and the
    Q1E estimate when the data carry one (else `shelf_life: null` and the reason)."""
    with hub_of(request).sessions() as session:
        trend = views.trend_data(session, site, study)
    for series in trend["series"]:
        try:
            series["shelf_life"] = estimate_view(shelf_life_of(series)[1])
        except InvalidInput as error:
            series["shelf_life"], series["no_estimate"] = None, error.message
    return trend


@router.get("/stability-studies/{study}/report", summary="The shelf-life report")
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


@router.get("/stability-studies/{study}/plot", summary="The Q1E plot of one test (PNG)")
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
    wanted = condition or trend["long_term_condition"]
    series = next(
        (s for s in trend["series"] if (s["test_code"], s["condition"]) == (test, wanted)), None
    )
    if series is None:
        raise NotFound(
            f"Study {study} trends no {test} at {wanted}.",
            reason="stability.series_unknown",
            field="test",
        )
    try:
        observations, estimate = shelf_life_of(series)
    except InvalidInput as error:
        raise Conflict(error.message, reason="stability.too_few_data", field="results") from error
    png = shelf_life_png(observations, estimate, f"{trend['product']} {test} at {wanted}")
    return Response(png, media_type="image/png")


@router.get("/oot-alerts", summary="Out-of-trend alerts")
def list_alerts(
    request: Request,
    site: str,
    batch: str | None = None,
    status: AlertStatus | None = None,
    _: Account = allowed(Permission.READ),
) -> dict[str, Any]:
    """Of the site, or one batch; `status=open` for those awaiting assessment."""
    with hub_of(request).sessions() as session:
        return {"items": views.alerts_rows(session, site, batch, status)}


@router.get("/oot-alerts/{alert}", summary="An OOT alert")
def get_alert(
    request: Request, site: str, alert: str, _: Account = allowed(Permission.READ)
) -> dict[str, Any]:
    """The chart's numbers and, once assessed, the signed assessment."""
    with hub_of(request).sessions() as session:
        return views.alert_view(session, site, alert)


@router.post("/oot-alerts/{alert}/acknowledgement", summary="Assess an OOT alert, signed")
async def acknowledge_alert(
    request: Request,
    site: str,
    alert: str,
    body: AssessmentIn,
    _: Account = allowed(Permission.ACKNOWLEDGE_OOT),
) -> dict[str, Any]:
    """A reviewer or QA, never the result's analyst; the result itself is not changed."""
    command = sc.AcknowledgeOotAlert(
        await request_context(request), site, alert, body.assessment, body.signature.to_input()
    )
    await _run(request, command)
    with hub_of(request).sessions() as session:
        return views.alert_view(session, site, alert)
