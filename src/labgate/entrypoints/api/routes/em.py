"""Environmental monitoring: configuration under change control, site limits signed by QA,
rounds and counts, excursions with their impact list, and the MES's room occupancy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, Field, StrictStr
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import em_views as views
from labgate.adapters.store.document_facts import readable
from labgate.compliance.access import Account, Permission
from labgate.compliance.signed_actions import SignedAction
from labgate.domain import em_commands as em
from labgate.domain.commands import Command
from labgate.domain.em_limits import CleanroomGrade, EmSampleType, OperationalState
from labgate.domain.em_monitoring import Frequency
from labgate.entrypoints.api.answers.em import (
    EM_PEOPLE,
    DueRounds,
    EmConfig,
    EmLimitCreated,
    EmLimitsInForce,
    EmRoundView,
    EmSampleView,
    ExcursionItem,
    ExcursionView,
    Impact,
    OccupancyItem,
    OccupancyOfLocation,
)
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.paging import Cursor, Page, PageLimit, decode_cursor, page_of
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import INT32_MAX, Body, SignatureIn, SignedAs
from labgate.entrypoints.api.scope import SiteScope
from labgate.entrypoints.api.wire import Answer
from labgate.service.messages import code as key
from labgate.service.messages import reason_text

A = TypeVar("A", bound=Answer)

router = APIRouter(
    prefix="/api/v1/sites/{site}/em", tags=["environmental monitoring"], dependencies=[SiteScope]
)


class LocationIn(Body):
    """A master-data location, its cleanroom grade and the room it belongs to."""

    location: StrictStr = key()
    grade: CleanroomGrade
    room: StrictStr = key()
    lookback_days: int = Field(7, ge=1, le=365)
    reason: StrictStr = reason_text()


class PointIn(Body):
    """A sampling point in a graded location."""

    code: StrictStr = key()
    location: StrictStr = key()
    sample_type: EmSampleType
    description: StrictStr = Field(min_length=1, max_length=200)
    alerts_to_deviation: int = Field(3, ge=1, le=100)
    reason: StrictStr = reason_text()


class RouteIn(Body):
    """A route: its points in sampling order."""

    code: StrictStr = key()
    name: StrictStr = Field(min_length=1, max_length=200)
    points: list[StrictStr] = Field(min_length=1, max_length=200)
    reason: StrictStr = reason_text()


class ScheduleIn(Body):
    """When a route is sampled."""

    code: StrictStr = key()
    route: StrictStr = key()
    state: OperationalState
    frequency: Frequency
    next_due: AwareDatetime
    reason: StrictStr = reason_text()


class LimitIn(Body):
    """A site version of one cell: a tighter action limit (None keeps Annex 1) and the alert."""

    grade: CleanroomGrade
    state: OperationalState
    sample_type: EmSampleType
    location: StrictStr | None = key(None)
    action: int | None = Field(None, ge=0, le=INT32_MAX)
    alert: int | None = Field(None, ge=0, le=INT32_MAX)
    effective_from: AwareDatetime
    reason: StrictStr = reason_text()
    signature: Annotated[SignatureIn, SignedAs(SignedAction.CHANGE_EM_LIMITS)]


class RoundIn(Body):
    """Start a round of a route now."""

    route: StrictStr = key()
    state: OperationalState
    planned_at: AwareDatetime


class CountIn(Body):
    """The count of an EM sample: CFU, or particles/m³."""

    count: Decimal = Field(ge=0, max_digits=18)
    sampled_at: AwareDatetime | None = None


class OccupancyIn(Body):
    """A batch in a room, as the MES reports it; `to_at` is open while it is still there."""

    batch: StrictStr = key()
    location: StrictStr = key()
    from_at: AwareDatetime
    to_at: AwareDatetime | None = None


async def _run(request: Request, command: Command) -> Any:
    return await run_in_threadpool(hub_of(request).bus.handle, command)


def _read(request: Request, answer: type[A], view: Callable[[Session], dict[str, Any]]) -> A:
    with hub_of(request).sessions() as session:
        return answer.model_validate(view(session))


def _readable(
    request: Request, site: str, answer: type[A], view: Callable[[Session], dict[str, Any]]
) -> A:
    """A view people read: site-local times and printed names beside the UTC times and ids."""
    with hub_of(request).sessions() as session:
        return answer.model_validate(readable(session, site, view(session), EM_PEOPLE))


def _now(request: Request) -> datetime:
    return hub_of(request).bus.deps.clock.now()


# The refusals of the rules each operation reaches (handlers em_config, em_monitoring); those the
# body's own schema already refuses (a count below 0, a route with no point...) are input.<rule>.
REASON = ("input.reason_required", "input.reason_too_short")
SIGNATURE_401 = ("signature.bad_credentials", "auth.locked")
ROUND_404 = ("em_route.unknown", "em_point.unknown", "em_location.unknown")
PAGE_422 = ("page.cursor_invalid",)


@router.post(
    "/locations",
    status_code=201,
    summary="QA: grade a location (change control)",
    openapi_extra=refuses({404: ("location.unknown",), 422: REASON}),
)
async def configure_location(
    request: Request, site: str, body: LocationIn, _: Account = allowed(Permission.MANAGE_EM)
) -> EmConfig:
    """Audited with before and after."""
    data = body.model_dump()
    await _run(request, em.ConfigureEmLocation(await request_context(request), site, **data))
    return _read(request, EmConfig, lambda s: views.config_view(s, site))


@router.post(
    "/points",
    status_code=201,
    summary="QA: configure a sampling point",
    openapi_extra=refuses({404: ("em_location.unknown",), 422: REASON}),
)
async def configure_point(
    request: Request, site: str, body: PointIn, _: Account = allowed(Permission.MANAGE_EM)
) -> EmConfig:
    """One sample type per point; N alerts in a row there open a deviation."""
    data = body.model_dump()
    await _run(request, em.ConfigureEmPoint(await request_context(request), site, **data))
    return _read(request, EmConfig, lambda s: views.config_view(s, site))


@router.post(
    "/routes",
    status_code=201,
    summary="QA: configure a sampling route",
    openapi_extra=refuses({404: ("em_point.unknown",), 422: (*REASON, "em.route_point_repeated")}),
)
async def configure_route(
    request: Request, site: str, body: RouteIn, _: Account = allowed(Permission.MANAGE_EM)
) -> EmConfig:
    """The points in the order they are sampled."""
    ctx = await request_context(request)
    command = em.ConfigureEmRoute(ctx, site, body.code, body.name, tuple(body.points), body.reason)
    await _run(request, command)
    return _read(request, EmConfig, lambda s: views.config_view(s, site))


@router.post(
    "/schedules",
    status_code=201,
    summary="QA: schedule a route",
    openapi_extra=refuses({404: ("em_route.unknown",), 422: REASON}),
)
async def configure_schedule(
    request: Request, site: str, body: ScheduleIn, _: Account = allowed(Permission.MANAGE_EM)
) -> EmConfig:
    """Every shift, daily or weekly, in one operational state."""
    data = body.model_dump()
    await _run(request, em.ConfigureEmSchedule(await request_context(request), site, **data))
    return _read(request, EmConfig, lambda s: views.config_view(s, site))


@router.get("/config", summary="EM locations, points, routes and schedules")
def get_config(request: Request, site: str, _: Account = allowed(Permission.READ)) -> EmConfig:
    """The whole configuration of a site."""
    return _read(request, EmConfig, lambda s: views.config_view(s, site))


@router.post(
    "/limits",
    status_code=201,
    summary="QA: a new version of a site limit, signed",
    openapi_extra=refuses(
        {
            401: SIGNATURE_401,
            404: ("em_location.unknown",),
            409: ("em.limit_backdated_over_results",),
            422: (
                *REASON,
                "em.action_loosened",
                "em.alert_not_below_action",
                "signature.wrong_meaning",
            ),
        }
    ),
)
async def set_limit(
    request: Request, site: str, body: LimitIn, _: Account = allowed(Permission.MANAGE_EM)
) -> EmLimitCreated:
    """Action limits only tighter than Annex 1; alert below action; e-signature 'approved'."""
    ctx, signature = await request_context(request), body.signature.to_input()
    data = body.model_dump(exclude={"signature"})
    version = await _run(request, em.SetEmLimit(ctx, site, **data, signature=signature))
    return _read(
        request,
        EmLimitCreated,
        lambda s: (
            views.limits_view(
                s,
                site,
                body.grade,
                body.state,
                body.sample_type,
                body.location,
                body.effective_from,
            )
            | {"created": version}
        ),
    )


@router.get("/limits", summary="The limits in force for a cell at a time, and its versions")
def get_limits(
    request: Request,
    site: str,
    grade: CleanroomGrade,
    state: OperationalState,
    sample_type: EmSampleType,
    # An empty location would name no location and match nothing: refused, not read as absent.
    location: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    at: AwareDatetime | None = None,
    _: Account = allowed(Permission.READ),
) -> EmLimitsInForce:
    """Annex 1 unless a site version is in force; the source of each limit is named."""
    when = at or _now(request)
    return _read(
        request,
        EmLimitsInForce,
        lambda s: views.limits_view(s, site, grade, state, sample_type, location, when),
    )


@router.post(
    "/rounds",
    status_code=201,
    summary="Start a round of a route",
    openapi_extra=refuses({404: ROUND_404}),
)
async def start_round(
    request: Request, site: str, body: RoundIn, _: Account = allowed(Permission.RECORD_EM)
) -> EmRoundView:
    """An EM sample per point, planned at the given time."""
    ctx = await request_context(request)
    em_round = await _run(request, em.StartEmRound(ctx, site, **body.model_dump()))
    return _readable(request, site, EmRoundView, lambda s: views.round_view(s, site, em_round))


@router.post(
    "/due-rounds",
    summary="Start the rounds of every schedule that is due",
    openapi_extra=refuses({404: ROUND_404}),
)
async def start_due_rounds(
    request: Request, site: str, _: Account = allowed(Permission.RECORD_EM)
) -> DueRounds:
    """What the scheduler (and `labgate em due`) runs."""
    started = await _run(request, em.StartDueRounds(await request_context(request), site))
    return DueRounds(started=started)


@router.get(
    "/rounds/{em_round}",
    summary="A round and its samples",
    openapi_extra=refuses({404: ("em_round.unknown",)}),
)
def get_round(
    request: Request, site: str, em_round: str, _: Account = allowed(Permission.READ)
) -> EmRoundView:
    """Samples in route order, counted or not."""
    return _readable(request, site, EmRoundView, lambda s: views.round_view(s, site, em_round))


@router.post(
    "/samples/{em_sample}/count",
    summary="Record the count of an EM sample",
    openapi_extra=refuses(
        {
            404: ("em_sample.unknown", "em_location.unknown"),
            409: ("em.sample_already_counted",),
            422: ("em.sampled_in_future", "em.count_not_whole"),
        }
    ),
)
async def record_count(
    request: Request,
    site: str,
    em_sample: str,
    body: CountIn,
    _: Account = allowed(Permission.RECORD_EM),
) -> EmSampleView:
    """Judged by the limits in force at sampling time; an action excursion opens a deviation."""
    ctx = await request_context(request)
    await _run(request, em.RecordEmCount(ctx, site, em_sample, body.count, body.sampled_at))
    return _readable(request, site, EmSampleView, lambda s: views.sample_view(s, site, em_sample))


@router.get(
    "/samples/{em_sample}",
    summary="An EM sample, its count and the limits applied",
    openapi_extra=refuses({404: ("em_sample.unknown",)}),
)
def get_sample(
    request: Request, site: str, em_sample: str, _: Account = allowed(Permission.READ)
) -> EmSampleView:
    """With the source of each limit and the site version used."""
    return _readable(request, site, EmSampleView, lambda s: views.sample_view(s, site, em_sample))


@router.get(
    "/excursions",
    summary="Excursions, newest first",
    openapi_extra=refuses({422: PAGE_422}),
)
def list_excursions(
    request: Request,
    site: str,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[ExcursionItem]:
    """Alert and action excursions, with their deviations, one page at a time."""
    after = decode_cursor("em-excursions", cursor)
    with hub_of(request).sessions() as session:
        found = views.excursions_page(session, site, after, limit)
    return page_of(request, "em-excursions", found, ExcursionItem, limit)


@router.get(
    "/excursions/{excursion}",
    summary="An excursion and its sample",
    openapi_extra=refuses({404: ("em_excursion.unknown", "em_sample.unknown")}),
)
def get_excursion(
    request: Request, site: str, excursion: str, _: Account = allowed(Permission.READ)
) -> ExcursionView:
    """With the limits applied to its count."""
    return _readable(
        request, site, ExcursionView, lambda s: views.excursion_view(s, site, excursion)
    )


@router.get(
    "/excursions/{excursion}/impact",
    summary="Equipment and batches an excursion touches",
    openapi_extra=refuses({404: ("em_excursion.unknown", "em_location.unknown")}),
)
def get_impact(
    request: Request, site: str, excursion: str, _: Account = allowed(Permission.READ)
) -> Impact:
    """The room's equipment, and the batches in the room during the excursion's window."""
    now = _now(request)
    return _read(request, Impact, lambda s: views.impact_view(s, site, excursion, now))


@router.post(
    "/occupancy",
    status_code=201,
    summary="MES: a batch in a room",
    openapi_extra=refuses(
        {404: ("batch.unknown", "location.unknown"), 422: ("em.occupancy_ends_before_start",)}
    ),
)
async def report_occupancy(
    request: Request,
    site: str,
    body: OccupancyIn,
    _: Account = allowed(Permission.REPORT_OCCUPANCY),
) -> OccupancyOfLocation:
    """Read by impact lists."""
    await _run(
        request, em.ReportOccupancy(await request_context(request), site, **body.model_dump())
    )
    return _read(
        request, OccupancyOfLocation, lambda s: views.occupancy_view(s, site, body.location)
    )


@router.get(
    "/occupancy",
    summary="Reported room occupancy, in the order reported",
    openapi_extra=refuses({422: PAGE_422}),
)
def list_occupancy(
    request: Request,
    site: str,
    location: str | None = None,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[OccupancyItem]:
    """Optionally of one location, one page at a time."""
    after = decode_cursor("em-occupancy", cursor)
    with hub_of(request).sessions() as session:
        found = views.occupancy_page(session, site, location, after, limit)
    return page_of(request, "em-occupancy", found, OccupancyItem, limit)
