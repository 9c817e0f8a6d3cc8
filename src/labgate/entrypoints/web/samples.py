"""A sample, read-only: its tests and results (GET /api/v1/sites/{site}/samples/{sample}, the
same view) and, for a role that reads the audit trail, its timeline (GET .../timeline)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from labgate.adapters.store import views
from labgate.adapters.store.audit_reading import readable_entries
from labgate.adapters.store.document_facts import readable, reader
from labgate.compliance.access import Permission
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.render import page

router = APIRouter()
TIMELINE_LIMIT = 500  # as the API's default page of a timeline


@router.get("/sites/{site}/samples/{sample}", name="sample_page")
def sample_page(
    request: Request,
    site: str,
    sample: str,
    who: Annotated[Visitor, Depends(allowed(Permission.READ))],
) -> Response:
    """The sample, its results with their signatures, and its timeline when the role reads the
    trail."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        found = views.get_sample(session, site, sample)
        view = readable(session, site, views.sample_view(session, site, sample))
        timeline = None
        if who.may(Permission.READ_AUDIT):
            extra = [found.mes_request_id] if found.mes_request_id else []
            extra += views.deviation_codes(session, site, sample=sample)
            query = views.timeline_query(site, [sample], extra)
            entries = views.page(session, query, TIMELINE_LIMIT, 0)
            timeline = entries | {"items": readable_entries(session, entries["items"])}
        people = reader(session, site, [])
    values = {**frame(request, who, shown, "batches"), "sample": view, "timeline": timeline,
              "people": people}  # fmt: skip
    return page(request, "sample.html", values)


@router.get("/sites/{site}/samples/{sample}/timeline", name="sample_timeline")
def sample_timeline(
    request: Request,
    site: str,
    sample: str,
    who: Annotated[Visitor, Depends(allowed(Permission.READ_AUDIT))],
) -> Response:
    """The sample page for a role that reads the trail: refused (403 page, audited) to others."""
    return sample_page(request, site, sample, who)
