"""Data quality: the site's latest run, rule by rule (status, measured value against the
threshold, examples linked to their pages, the deviation the breach is on), the recent runs,
and "Run now" for those who may (POST .../dq/runs, the API's own RunDataQuality)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from labgate.adapters.store.document_facts import reader
from labgate.adapters.store.dq_view import latest_run, runs_query
from labgate.compliance.access import Permission
from labgate.config import dq_windows
from labgate.domain.data_quality import BY_ID
from labgate.domain.dq_commands import RunDataQuality
from labgate.domain.errors import LabgateError
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.labdata import send
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.render import page, prefix

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
Running = Annotated[Visitor, Depends(allowed(Permission.RUN_DATA_QUALITY))]
RECENT = 10
SHOWN = 5  # examples per rule on the page; the run keeps up to 20 (the API lists them)
# The record kinds whose examples have a console page, and where it is under the site.
PAGES = {"sample": "samples", "result": "review"}


def _values(request: Request, who: Visitor, site: str) -> dict[str, Any]:
    shown = site_view(request, site)
    hub = hub_of(request)
    with hub.sessions() as session:
        latest = latest_run(session, site)
        recent = [dict(r) for r in session.execute(
            runs_query(site).order_by(runs_query(site).selected_columns[0].desc()).limit(RECENT)
        ).mappings()]  # fmt: skip
        people = reader(session, site, [r["started_by"] for r in recent])
    base = f"{prefix(request)}/sites/{site}"
    return {
        **frame(request, who, shown, "dq"),
        "latest": latest,
        "recent": recent,
        "rules": BY_ID,
        "shown": SHOWN,
        "people": people,
        "pages": {kind: f"{base}/{path}" for kind, path in PAGES.items()},
        "here": f"{base}/dq",
        "deviations": f"{base}/deviations",
        "may_run": who.may(Permission.RUN_DATA_QUALITY),
        "every": hub.settings.dq_run_seconds,
        "refused": None,
    }


@router.get("/sites/{site}/dq", name="data_quality")
def data_quality(request: Request, site: str, who: Reading) -> Response:
    """The latest run per rule and the recent runs."""
    return page(request, "dq.html", _values(request, who, site))


@router.post("/sites/{site}/dq/runs", name="data_quality_run")
async def run_now(request: Request, site: str, who: Running) -> Response:
    """Run every rule at the site now, as POST /api/v1/sites/{site}/dq/runs does."""
    await posted_form(request, who)
    settings = hub_of(request).settings
    command = RunDataQuality(context(request, who.account.username), site, "api",
                             dq_windows(settings))  # fmt: skip

    async def refused(error: LabgateError) -> Response:
        values = _values(request, who, site) | {"refused": error}
        return page(request, "dq.html", values, status=http_status(error))

    return await send(request, command, f"{prefix(request)}/sites/{site}/dq", refused)
