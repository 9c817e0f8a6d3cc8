"""OOS deviations: list and read them; conclude phase I and II, close with CAPA, each signed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.adapters.store import views
from labgate.adapters.store.document_facts import readable
from labgate.adapters.store.lists import take
from labgate.compliance.access import Account, Permission
from labgate.domain.commands import Command
from labgate.domain.deviation_commands import CloseDeviation, ConcludePhaseOne, ConcludePhaseTwo
from labgate.domain.deviations import DeviationState
from labgate.entrypoints.api.answers.deviations import DeviationItem, DeviationView
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.paging import Cursor, Page, PageLimit, decode_cursor, page_of
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes import lab_refusals as no
from labgate.entrypoints.api.routes.lab import allowed, listed
from labgate.entrypoints.api.schemas import ClosureIn, PhaseOneIn, PhaseTwoIn
from labgate.entrypoints.api.scope import SiteScope

router = APIRouter(
    prefix="/api/v1/sites/{site}/deviations", tags=["deviations"], dependencies=[SiteScope]
)
StateFilter = Literal["open", "closed"] | DeviationState


def _view(request: Request, site: str, code: str) -> dict[str, Any]:
    with hub_of(request).sessions() as session:
        shown: dict[str, Any] = readable(session, site, views.deviation_view(session, site, code))
        return shown


async def _run(request: Request, command: Command) -> None:
    await run_in_threadpool(hub_of(request).bus.handle, command)


@router.get(
    "", summary="List deviations (open, closed, or one state)", openapi_extra=refuses(no.PAGED)
)
def list_deviations(
    request: Request,
    site: str,
    state: StateFilter | None = None,
    batch: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[DeviationItem]:
    """Deviations of a site, newest first, one page at a time."""
    after = decode_cursor("deviations", cursor)
    query = views.deviations_query(site, state, batch)
    with hub_of(request).sessions() as session:
        found = take(session, query, t.deviations.c.id, after, limit, "newest")
    return page_of(request, "deviations", listed(found), DeviationItem, limit)


@router.get(
    "/{deviation}",
    summary="A deviation, its steps and their signatures",
    response_model=DeviationView,
    openapi_extra=refuses(no.DEVIATION_UNKNOWN),
)
def get_deviation(
    request: Request, site: str, deviation: str, _: Account = allowed(Permission.READ)
) -> dict[str, Any]:
    """One investigation: state, each step's who, when and why, the retest, the signatures."""
    return _view(request, site, deviation)


@router.post(
    "/{deviation}/phase1",
    summary="Conclude phase I with e-signature 'reviewed'",
    response_model=DeviationView,
    openapi_extra=refuses(
        no.merged(
            no.SIGNED,
            no.DEVIATION_STEP,
            # An assignable cause invalidates the result: its sample's moves.
            {404: ("sample.unknown", "result.unknown"), 409: no.MOVES},
            {403: ("deviation.investigator_is_analyst",)},
            {422: ("deviation.bad_phase1_conclusion", "deviation.dq_not_invalidated")},
        )
    ),
)
async def conclude_phase_one(
    request: Request,
    site: str,
    deviation: str,
    body: PhaseOneIn,
    _: Account = allowed(Permission.INVESTIGATE_DEVIATION),
) -> dict[str, Any]:
    """Assignable cause: the result is invalidated and a retest follows; else phase II."""
    ctx, signature = await request_context(request), body.signature.to_input()
    command = ConcludePhaseOne(ctx, site, deviation, body.conclusion, body.reason, signature)
    await _run(request, command)
    return _view(request, site, deviation)


@router.post(
    "/{deviation}/phase2",
    summary="Conclude phase II with e-signature 'reviewed'",
    response_model=DeviationView,
    openapi_extra=refuses(
        no.merged(
            no.SIGNED,
            no.DEVIATION_STEP,
            {403: ("deviation.investigator_is_analyst",)},
            {422: ("deviation.bad_phase2_conclusion",)},
        )
    ),
)
async def conclude_phase_two(
    request: Request,
    site: str,
    deviation: str,
    body: PhaseTwoIn,
    _: Account = allowed(Permission.INVESTIGATE_DEVIATION),
) -> dict[str, Any]:
    """The OOS is confirmed, or not, with a rationale."""
    ctx, signature = await request_context(request), body.signature.to_input()
    command = ConcludePhaseTwo(ctx, site, deviation, body.conclusion, body.rationale, signature)
    await _run(request, command)
    return _view(request, site, deviation)


@router.post(
    "/{deviation}/closure",
    summary="QA: close with e-signature 'approved'",
    response_model=DeviationView,
    openapi_extra=refuses(
        no.merged(
            no.SIGNED,
            no.DEVIATION_STEP,
            {404: ("sample.unknown",)},
            {403: ("deviation.approver_is_investigator",)},
            {422: ("deviation.capa_required",)},
        )
    ),
)
async def close_deviation(
    request: Request,
    site: str,
    deviation: str,
    body: ClosureIn,
    _: Account = allowed(Permission.CLOSE_DEVIATION),
) -> dict[str, Any]:
    """QA approves the conclusion; a confirmed OOS needs its CAPA reference."""
    ctx = await request_context(request)
    signature = body.signature.to_input()
    await _run(request, CloseDeviation(ctx, site, deviation, body.reason, signature, body.capa))
    return _view(request, site, deviation)
