"""Deviations (OOS): the list (the rows of GET /api/v1/sites/{site}/deviations, the same query
and filters, a page at a time) and the workspace of one deviation (GET .../deviations/{code},
the same view) with its result, hold, retests and history. Its three signed stages are in
deviation_steps.py. The console holds no rule of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, and_
from sqlalchemy.orm import Session

from labgate.adapters.store import lists, views
from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_reading import readable_entries
from labgate.adapters.store.document_facts import readable, reader
from labgate.compliance.access import Permission
from labgate.compliance.signed_actions import MEANINGS, SignedAction
from labgate.domain.deviations import STEPS, WITHOUT_RESULT, DeviationState
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.render import filtered_list, page, page_links, prefix

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
PAGE_SIZES = (25, 50, 100)
HISTORY_LIMIT = 500  # as the API's default page of a timeline
# The API's order: newest deviation first, by id (stable when one is opened meanwhile).
SORT: lists.Direction = "newest"
D = DeviationState
# Where an investigation stands, as people say it; the values are the API's states.
PHASES = {
    D.OPEN_PHASE1: "Phase I: laboratory investigation",
    D.OPEN_PHASE2: "Phase II: full-scale investigation",
    D.CONCLUDED: "Concluded: awaiting QA closure",
    D.INVALIDATED: "Invalidated: laboratory error, retest",
    D.CLOSED: "Closed",
}
# The state filter takes what the API's `state` takes: open, closed, or one state.
STATE_CHOICES = {"open": "Open (any phase)", "closed": "Closed or invalidated",
                 **{state.value: label for state, label in PHASES.items()}}  # fmt: skip
# The stage each open state waits for, and the permission the handler asks of its signer.
NEXT_STEP = {D.OPEN_PHASE1: "phase1", D.OPEN_PHASE2: "phase2", D.CONCLUDED: "closure"}
STEP_PERMISSION = {
    "phase1": Permission.INVESTIGATE_DEVIATION,
    "phase2": Permission.INVESTIGATE_DEVIATION,
    "closure": Permission.CLOSE_DEVIATION,
}
STEP_ACTION = {
    "phase1": SignedAction.INVESTIGATE_PHASE1,
    "phase2": SignedAction.INVESTIGATE_PHASE2,
    "closure": SignedAction.CLOSE_DEVIATION,
}


def meaning_of(step: str) -> str:
    """The one meaning a stage's signature may carry (21 CFR 11.50), as the API fixes it."""
    return MEANINGS[STEP_ACTION[step]][0].value


@dataclass(frozen=True)
class DeviationQuery:
    """What the visitor asked the list for: the API's filters and a page."""

    state: str | None
    batch: str | None
    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """This view's query string with some values changed (empty and default ones left out)."""
        values = {**self.__dict__, **changed}
        kept = {k: v for k, v in values.items() if v not in (None, "") and (k, v) != ("limit", 25)}
        return urlencode(kept)


def _rows_query(site: str, asked: DeviationQuery) -> Select[Any]:
    """The API list's query (its filters, its rows), with what a row shows beside them: the
    test, who concluded each step, and the product of the sample."""
    d, s = t.deviations.c, t.samples.c
    on_sample = and_(s.site == d.site, s.code == d.sample)
    return (
        views.deviations_query(site, asked.state, asked.batch)
        .add_columns(d.test_code, d.analyst, d.phase1_by, d.phase1_at, d.phase2_by, d.phase2_at,
                     d.closed_by, d.closed_at, s.product)
        .outerjoin_from(t.deviations, t.samples, on_sample)
    )  # fmt: skip


def age(opened: datetime, until: datetime) -> str:
    """How long an investigation has run (open) or ran (until its last step): `3 d 4 h`."""
    hours = max(int((until - opened).total_seconds() // 3600), 0)
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if days else f"{hours} h"


def _ages(rows: list[dict[str, Any]], now: datetime) -> dict[str, str]:
    """Each row's age: so far while open, the time it ran once ended."""
    return {
        row["code"]: age(row["opened_at"], now)
        if row["state"] in NEXT_STEP
        else f"ran {age(row['opened_at'], _ended(row))}"
        for row in rows
    }


def _ended(row: dict[str, Any]) -> datetime:
    ended: datetime = row["closed_at"] or row["phase2_at"] or row["phase1_at"] or row["opened_at"]
    return ended


StateFilter = Literal["", "open", "closed"] | DeviationState


@router.get("/sites/{site}/deviations", name="deviation_list")
def deviation_list(
    request: Request,
    site: str,
    who: Reading,
    state: Annotated[StateFilter | None, Query()] = None,
    batch: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The list, or (for htmx) only its table."""
    shown = site_view(request, site)
    asked = DeviationQuery(state or None, batch or None, limit, cursor or None)
    hub = hub_of(request)
    after = keyset.decode(SORT, asked.cursor)
    with hub.sessions() as session:
        found = lists.take(session, _rows_query(site, asked), t.deviations.c.id,
                           None if after is None else after[1], asked.limit, SORT)  # fmt: skip
        users = [row[key] for row in found.rows
                 for key in ("analyst", "phase1_by", "phase2_by", "closed_by")]  # fmt: skip
        people = reader(session, site, users)
    here = f"{prefix(request)}/sites/{site}/deviations"
    next_cursor = None if found.last_id is None else keyset.encode(SORT, None, found.last_id)
    values = {
        **frame(request, who, shown, "deviations"),
        "rows": found.rows,
        "ages": _ages(found.rows, hub.bus.deps.clock.now()),
        "phases": PHASES,
        "states": STATE_CHOICES,
        "asked": asked,
        "page_sizes": PAGE_SIZES,
        "people": people,
        "here": here,
        **page_links(asked, here, next_cursor),
    }
    return filtered_list(request, "deviations.html", "listed", values, asked, here)


def _result_and_retests(session: Session, site: str, view: dict[str, Any]) -> dict[str, Any]:
    """The OOS result as the API's sample view gives it, its planned test (limit bound at
    sampling), and the retests that superseded it, in order."""
    sample = readable(session, site, views.sample_view(session, site, view["sample"]))
    results = {r["code"]: r for r in sample["results"]}
    result = results[view["result"]]
    planned = next((p for p in sample["tests"] if p["test_code"] == view["test_code"]), None)
    retests: list[dict[str, Any]] = []
    following = result["superseded_by"]
    while following in results and len(retests) < len(results):
        retests.append(results[following])
        following = results[following]["superseded_by"]
    return {"sample": sample, "result": result, "planned": planned, "retests": retests}


def _hold(session: Session, site: str, view: dict[str, Any]) -> dict[str, Any] | None:
    """What the deviation holds (its batch, else its lot) and the deviations on it: the
    batch view's rule, on hold while any of them is open."""
    kind, code = ("batch", view["batch"]) if view["batch"] else ("lot", view["lot"])
    if code is None:
        return None
    on_it = views.deviations_of(session, site, **{kind: code})
    return {"kind": kind, "code": code, "deviations": on_it,
            "on_hold": any(d["open"] for d in on_it)}  # fmt: skip


def _history(session: Session, site: str, code: str) -> dict[str, Any]:
    """The deviation's audit entries (GET /api/v1/audit?record_type=deviation&record_id=...)."""
    entries = views.page(session, views.audit_query(site, "deviation", code), HISTORY_LIMIT, 0)
    return entries | {"items": readable_entries(session, entries["items"])}


def _named(
    view: dict[str, Any], oos: dict[str, Any] | None, history: dict[str, Any] | None
) -> list[str | None]:
    """Everyone the workspace names by user id: their printed names are read at once."""
    steps = [view[key] for key in ("opened_by", "analyst", "phase1_by", "phase2_by", "closed_by")]
    results = [] if oos is None else [oos["result"], *oos["retests"]]
    entries = [] if history is None else history["items"]
    return [*steps, *(r["analyst"] for r in results), *(e["actor"] for e in entries)]


def workspace_values(request: Request, who: Visitor, site: str, code: str) -> dict[str, Any]:
    """Everything the workspace shows of one deviation, read in one session."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        view = readable(session, site, views.deviation_view(session, site, code))
        oos = None if view["kind"] in WITHOUT_RESULT else _result_and_retests(session, site, view)
        hold = _hold(session, site, view)
        history = _history(session, site, code) if who.may(Permission.READ_AUDIT) else None
        people = reader(session, site, _named(view, oos, history))
    state = DeviationState(view["state"])
    step = NEXT_STEP.get(state)
    return {
        **frame(request, who, shown, "deviations"),
        "deviation": view,
        "phase": PHASES[state],
        "phases": PHASES,
        # Each step is signed once, in order: the n-th signature is the n-th step's (the API's).
        "signed": dict(zip(STEPS, view["signatures"], strict=False)),
        "oos": oos,
        "hold": hold,
        "history": history,
        "people": people,
        "next_step": step,
        "may_sign": step is not None and who.may(STEP_PERMISSION[step]),
        "meaning": None if step is None else meaning_of(step),
        "here": f"{prefix(request)}/sites/{site}/deviations/{code}",
        "listed": f"{prefix(request)}/sites/{site}/deviations",
        "refused": None,
        "attempt": {},
        "done": None,
    }


@router.get("/sites/{site}/deviations/{deviation}", name="deviation_workspace")
def deviation_workspace(
    request: Request,
    site: str,
    deviation: str,
    who: Reading,
    done: Literal["phase1", "phase2", "closure"] | None = None,
) -> Response:
    """The workspace; `done` after a stage was signed."""
    values = workspace_values(request, who, site, deviation)
    values["done"] = done
    return page(request, "deviation.html", values)
