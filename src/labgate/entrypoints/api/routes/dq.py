"""Data-quality controls: the rules, the runs kept, one run; a run on demand at a site."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.adapters.store.dq_view import run_view, runs_query
from labgate.adapters.store.lists import Slice, take
from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.config import dq_windows
from labgate.domain.data_quality import RULES
from labgate.domain.dq_commands import RunDataQuality
from labgate.entrypoints.api.answers.dq import DqRuleItem, DqRuleList, DqRunItem, DqRunView
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.paging import Cursor, Page, PageLimit, decode_cursor, page_of
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes import lab_refusals as no
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.scope import SiteScope

router = APIRouter(prefix="/api/v1", tags=["data quality"])
RunNumber = Annotated[int, Path(ge=1, le=2**63 - 1, description="The run's id.")]


@router.get("/dq/rules", summary="The data-quality rules and their thresholds")
def dq_rules(_: Account = allowed(Permission.READ)) -> DqRuleList:
    """Every rule: id, dimension, what it checks, severity, threshold."""
    items = [
        DqRuleItem(id=r.id, dimension=r.dimension, title=r.title, checks=r.checks,
                   severity=r.severity, record_kind=r.record_kind, max_failing=r.max_failing,
                   max_percent=None if r.max_percent is None else str(r.max_percent),
                   threshold=r.threshold)
        for r in RULES
    ]  # fmt: skip
    return DqRuleList(items=items)


@router.get("/dq/runs", summary="Data-quality runs, newest first", openapi_extra=refuses(no.PAGED))
def dq_runs(
    request: Request,
    site: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[DqRunItem]:
    """The runs kept, of one site or all, one page at a time."""
    after = decode_cursor("dq-runs", cursor)
    with hub_of(request).sessions() as session:
        found = take(session, runs_query(site), t.dq_runs.c.id, after, limit, "newest")
    return page_of(request, "dq-runs", Slice(_wired(found.rows), found.last_id), DqRunItem, limit)


@router.get(
    "/dq/runs/{run}",
    summary="One data-quality run with each rule's outcome",
    openapi_extra=refuses({404: ("dq_run.unknown",)}),
)
def dq_run(request: Request, run: RunNumber, _: Account = allowed(Permission.READ)) -> DqRunView:
    """Each rule's measured value against its threshold, examples, and the deviation."""
    with hub_of(request).sessions() as session:
        shown = run_view(session, run)
    return DqRunView.model_validate(_wired([shown])[0])


@router.post(
    "/sites/{site}/dq/runs",
    summary="Run the data-quality rules at a site now",
    status_code=201,
    dependencies=[SiteScope],
)
async def start_dq_run(
    request: Request, site: str, _: Account = allowed(Permission.RUN_DATA_QUALITY)
) -> DqRunView:
    """Measure every rule now; a rule newly in breach opens a deviation, one still in breach
    is noted on its open one. The run is kept and audited."""
    ctx = await request_context(request)
    command = RunDataQuality(ctx, site, "api", dq_windows(hub_of(request).settings))
    run_id = await run_in_threadpool(hub_of(request).bus.handle, command)
    with hub_of(request).sessions() as session:
        shown = run_view(session, run_id)
    return DqRunView.model_validate(_wired([shown])[0])


def _wired(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Times as every answer renders them (iso_utc), statuses by value."""
    return [{str(k): to_jsonable(v) for k, v in row.items()} for row in rows]
