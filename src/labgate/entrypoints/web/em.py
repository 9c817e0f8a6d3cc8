"""Environmental monitoring: the schedules and whether they are due (GET .../em/config), the
due rounds started as POST .../em/due-rounds starts them (StartDueRounds), the rounds, a round
with a count form per sample (RecordEmCount, as POST .../em/samples/{s}/count), and the
excursions with their impact lists (GET .../em/excursions/{x}/impact)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import em_views as views
from labgate.adapters.store.document_facts import readable, reader
from labgate.compliance.access import Permission
from labgate.domain.em_commands import RecordEmCount, StartDueRounds
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.numbers import parse_decimal
from labgate.entrypoints.api.answers.em import EM_PEOPLE
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.labdata import Listing, after, lab_frame, paging, send
from labgate.entrypoints.web.layout import site_view
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import filtered_list, page, prefix

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
Recording = Annotated[Visitor, Depends(allowed(Permission.RECORD_EM))]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=300)]
Codes = Annotated[str | None, Query(max_length=300, pattern=r"^[A-Za-z0-9,_-]*$")]
ROUNDS, EXCURSIONS = "em-rounds", "em-excursions"


def _base(request: Request, site: str) -> str:
    return f"{prefix(request)}/sites/{site}/em"


def _em_values(
    request: Request, who: Visitor, site: str, asked: Listing, started: str | None
) -> dict[str, Any]:
    shown = site_view(request, site)
    hub = hub_of(request)
    now = hub.bus.deps.clock.now()
    with hub.sessions() as session:
        schedules = views.config_view(session, site)["schedules"]
        people = reader(session, site, [])
        found = views.rounds_page(session, site, after(ROUNDS, asked), asked.limit)
        found.rows[:] = readable(session, site, found.rows, EM_PEOPLE)
    for schedule in schedules:  # due as the scheduler's run decides: next_due not after now
        schedule["due"] = datetime.fromisoformat(schedule["next_due"]) <= now
    here = _base(request, site)
    return {**lab_frame(request, who, shown, "em"), **paging(ROUNDS, asked, here, found),
            "schedules": schedules, "people": people, "may_start": who.may(Permission.RECORD_EM),
            "started": started.split(",") if started else None, "refused": None}  # fmt: skip


@router.get("/sites/{site}/em", name="em_rounds")
def rounds(
    request: Request,
    site: str,
    who: Reading,
    limit: Limit = 25,
    cursor: Cursor = None,
    started: Codes = None,
) -> Response:
    """Schedules (due or not), and the rounds, newest first; `started` after starting them."""
    values = _em_values(request, who, site, Listing(None, limit, cursor or None), started)
    return filtered_list(request, "em.html", "rounds", values, values["asked"], values["here"])


@router.post("/sites/{site}/em/due-rounds", name="em_start_due")
async def start_due(request: Request, site: str, who: Recording) -> Response:
    """Start the rounds of every due schedule, as the API's due-rounds does."""
    await posted_form(request, who)
    command = StartDueRounds(context(request, who.account.username), site)
    hub = hub_of(request)
    try:
        started = await run_in_threadpool(hub.bus.handle, command)
    except LabgateError as error:
        await audit(request, error)
        values = await run_in_threadpool(
            _em_values, request, who, site, Listing(None, 25, None), None
        )
        values["refused"] = error
        return page(request, "em.html", values, status=http_status(error))
    done = f"{_base(request, site)}?started={','.join(started) or 'none'}"
    return RedirectResponse(done, status_code=303)


def _round_values(request: Request, who: Visitor, site: str, code: str) -> dict[str, Any]:
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        view = readable(session, site, views.round_view(session, site, code), EM_PEOPLE)
    return {**lab_frame(request, who, shown, "em"), "round": view,
            "here": f"{_base(request, site)}/rounds/{code}", "base_em": _base(request, site),
            "may_count": who.may(Permission.RECORD_EM), "refused": None, "refused_sample": None,
            "typed": {}, "done": None}  # fmt: skip


@router.get("/sites/{site}/em/rounds/{em_round}", name="em_round")
def round_page(
    request: Request,
    site: str,
    em_round: str,
    who: Reading,
    counted: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """A round's samples in route order, with a count form for each one not counted yet."""
    values = _round_values(request, who, site, em_round)
    values["done"] = counted
    return page(request, "em_round.html", values)


def _sampled_at(text: str, zone: str) -> datetime | None:
    """A `datetime-local` value read in the site's zone; empty: the planned time (handler)."""
    if not text.strip():
        return None
    try:
        typed = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise InvalidInput(
            f"The sampling time {text!r} is not a date and time such as 2026-11-25T10:15.",
            reason="input.datetime_parsing",
            field="sampled_at",
        ) from error
    return typed if typed.tzinfo else typed.replace(tzinfo=ZoneInfo(zone))


@router.post("/sites/{site}/em/samples/{em_sample}/count", name="em_count")
async def record_count(request: Request, site: str, em_sample: str, who: Recording) -> Response:
    """The count as typed (exact decimal, never a float), through RecordEmCount; back to the
    round, or the round with the refusal beside the sample's form."""
    form = await posted_form(request, who)
    typed = {"count": form.get("count", ""), "sampled_at": form.get("sampled_at", "")}
    with hub_of(request).sessions() as session:
        sample = views.sample_view(session, site, em_sample)
        zone = reader(session, site, []).zone

    async def refused(error: LabgateError) -> Response:
        values = await run_in_threadpool(_round_values, request, who, site, sample["round"])
        values |= {"refused": error, "refused_sample": em_sample, "typed": typed}
        return page(request, "em_round.html", values, status=http_status(error))

    try:
        count = parse_decimal(typed["count"], "count")
        command = RecordEmCount(context(request, who.account.username), site, em_sample,
                                count, _sampled_at(typed["sampled_at"], zone))  # fmt: skip
    except LabgateError as error:
        await audit(request, error)
        return await refused(error)
    done = f"{_base(request, site)}/rounds/{sample['round']}?counted={em_sample}"
    return await send(request, command, done, refused)


@router.get("/sites/{site}/em/excursions", name="em_excursions")
def excursions(
    request: Request, site: str, who: Reading, limit: Limit = 25, cursor: Cursor = None
) -> Response:
    """Alert and action excursions with their deviations, newest first."""
    shown = site_view(request, site)
    asked = Listing(None, limit, cursor or None)
    with hub_of(request).sessions() as session:
        found = views.excursions_page(session, site, after(EXCURSIONS, asked), limit)
        found.rows[:] = readable(session, site, found.rows, EM_PEOPLE)
    here = f"{_base(request, site)}/excursions"
    values = {**lab_frame(request, who, shown, "excursions"),
              **paging(EXCURSIONS, asked, here, found)}  # fmt: skip
    return filtered_list(request, "em_excursions.html", "excursions", values, asked, here)


@router.get("/sites/{site}/em/excursions/{excursion}", name="em_excursion")
def excursion_page(request: Request, site: str, excursion: str, who: Reading) -> Response:
    """An excursion, its sample and limits, and its impact list: the room's equipment and the
    batches in the room during its window, each linked to its batch page."""
    shown = site_view(request, site)
    hub = hub_of(request)
    with hub.sessions() as session:
        view = readable(session, site, views.excursion_view(session, site, excursion), EM_PEOPLE)
        impact = readable(
            session, site, views.impact_view(session, site, excursion, hub.bus.deps.clock.now())
        )
        people = reader(session, site, [])
    values = {**lab_frame(request, who, shown, "excursions"), "excursion": view,
              "impact": impact, "people": people, "base_em": _base(request, site)}  # fmt: skip
    return page(request, "em_excursion.html", values)
