"""The analyst's worklist (native lab): samples to register, and registered samples with their
planned tests and which still wait for a result. The rows are those of GET
/api/v1/sites/{site}/samples (the same query) by status, in the order requested (the API's list
read from its other end), a page at a time, filtered by product, batch and test. Registering
posts the command POST .../samples/{sample}/registration sends; the console holds no rule of
its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import lists
from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import reader
from labgate.compliance.access import Permission
from labgate.domain.commands import RegisterSample
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.lifecycle import ResultStatus, SampleStatus
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import filtered_list, page, page_links, prefix
from labgate.entrypoints.web.work import count
from labgate.service.messages import KEY_LENGTH

router = APIRouter()
s, p, r = t.samples.c, t.planned_tests.c, t.results.c
Testing = Annotated[Visitor, Depends(allowed(Permission.ENTER_RESULT))]
Key = Annotated[str | None, Query(max_length=64)]
Stage = Literal["register", "test"]
# The statuses each stage lists, as the My work tiles count them.
STAGES: dict[Stage, tuple[str, tuple[SampleStatus, ...]]] = {
    "register": ("To register", (SampleStatus.REQUESTED,)),
    "test": ("To test", (SampleStatus.REGISTERED, SampleStatus.IN_TESTING)),
}
PAGE_SIZES = (25, 50, 100)
# In the order requested: the sample waiting longest comes first; by id, stable under inserts.
SORT: lists.Direction = "oldest"


@dataclass(frozen=True)
class WorklistQuery:
    """What the analyst asked for: the stage, filters, page."""

    stage: Stage
    product: str | None
    batch: str | None
    test: str | None
    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """This view's query string with some values changed (empty and default ones left out)."""
        values = {**self.__dict__, **changed}
        defaults = {"stage": "test", "limit": 25}
        kept = {k: v for k, v in values.items() if v not in (None, "") and defaults.get(k) != v}
        return urlencode(kept)


def bounded(form: dict[str, str], name: str, limit: int, *, required: bool) -> str | None:
    """A form field within the bounds the API's body takes for it (the same reason codes), so
    a hand-made post meets the API's rule, not a database error; None when left empty."""
    value = form.get(name, "")
    if len(value) > limit:
        raise InvalidInput(f"{name}: String should have at most {limit} characters.",
                           reason="input.string_too_long", field=name)  # fmt: skip
    if not value.strip():
        if required:
            raise InvalidInput(f"{name}: a value is required.",
                               reason="input.string_too_short", field=name)  # fmt: skip
        return None
    return value


def stage_query(site: str, asked: WorklistQuery, stage: Stage) -> Select[Any]:
    """The API list's query for the stage's statuses, narrowed to samples planning the test."""
    where = lists.SampleFilter(batch=asked.batch, product=asked.product)
    query = lists.samples_query(site, where).where(s.status.in_(STAGES[stage][1]))
    if asked.test:
        query = query.where(s.id.in_(select(p.sample_id).where(p.test_code == asked.test)))
    return query


def _tests_of(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The planned tests of a page's samples, each with its active result's code (None: the
    test still waits for one): two queries whatever the page's size."""
    active = {
        (row.sample_id, row.test_code): row.code
        for row in session.execute(
            select(r.sample_id, r.test_code, r.code).where(
                r.sample_id.in_(ids), r.status != ResultStatus.INVALIDATED
            )
        )
    }
    planned: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    query = select(p.sample_id, p.test_code, p.status).where(p.sample_id.in_(ids))
    for row in session.execute(query.order_by(p.id)):
        result = active.get((row.sample_id, row.test_code))
        planned[row.sample_id].append(
            {"test_code": row.test_code, "status": row.status, "result": result}
        )
    return planned


def _choices(session: Session, site: str) -> dict[str, list[str]]:
    """The filters' options from master data (bounded, unlike the samples)."""
    pr, td = t.products.c, t.test_definitions.c
    return {
        "product": list(session.scalars(select(pr.code).where(pr.site == site).order_by(pr.code))),
        "test": list(session.scalars(select(td.code).where(td.site == site).order_by(td.code))),
    }


def worklist_values(
    request: Request, who: Visitor, site: str, asked: WorklistQuery
) -> dict[str, Any]:
    """The page's rows, counts and links, read in one session."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        after = keyset.decode(asked.stage, asked.cursor)
        found = lists.take(
            session, stage_query(site, asked, asked.stage), s.id,
            None if after is None else after[1], asked.limit, SORT,
        )  # fmt: skip
        tests = _tests_of(session, [int(row["id"]) for row in found.rows])
        counts = {stage: count(session, stage_query(site, asked, stage)) for stage in STAGES}
        choices = _choices(session, site)
        people = reader(session, site, [])
    here = f"{prefix(request)}/sites/{site}/worklist"
    next_cursor = None if found.last_id is None else keyset.encode(asked.stage, None, found.last_id)
    return {
        **frame(request, who, shown, "worklist"),
        "rows": found.rows,
        "tests": tests,
        "counts": counts,
        "stages": {stage: label for stage, (label, _) in STAGES.items()},
        "choices": choices,
        "asked": asked,
        "page_sizes": PAGE_SIZES,
        "people": people,
        "here": here,
        "may_register": who.may(Permission.REGISTER_SAMPLE),
        "refused": None,
        **page_links(asked, here, next_cursor),
    }


@router.get("/sites/{site}/worklist", name="worklist")
def worklist(
    request: Request,
    site: str,
    who: Testing,
    stage: Annotated[Stage, Query()] = "test",
    product: Key = None,
    batch: Key = None,
    test: Key = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The worklist, or (for htmx) only its table."""
    asked = WorklistQuery(stage, product or None, batch or None, test or None, limit,
                          cursor or None)  # fmt: skip
    values = worklist_values(request, who, site, asked)
    return filtered_list(request, "worklist.html", "worklist", values, asked, values["here"])


@router.post("/sites/{site}/worklist/{sample}/registration", name="worklist_register")
async def register(
    request: Request,
    site: str,
    sample: str,
    who: Annotated[Visitor, Depends(allowed(Permission.REGISTER_SAMPLE))],
) -> Response:
    """Register the sample (the lab has it), as POST .../samples/{sample}/registration does;
    then its result entry. A refusal is shown on the worklist with its reason code."""
    form = await posted_form(request, who)
    try:
        lims_id = bounded(form, "lims_sample_id", KEY_LENGTH, required=False)
        command = RegisterSample(context(request, who.account.username), site, sample, lims_id)
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        await audit(request, error)  # the bus audits its own; a bound the console checks, here
        asked = WorklistQuery("register", None, None, None, 25, None)
        try:
            values = await run_in_threadpool(worklist_values, request, who, site, asked)
        except LabgateError:  # an unknown site: the refusal's own page (audited once, above)
            raise error from None
        values["refused"] = error
        values["refused_sample"] = sample
        return page(request, "worklist.html", values, status=http_status(error))
    # Post/redirect/get: reloading does not register twice.
    return RedirectResponse(
        f"{prefix(request)}/sites/{site}/worklist/{sample}?done=registered", status_code=303
    )
