"""Trusted time on the desk: the hub's clock as checked against the plant's NTP server (an
alarm when it drifted, went unanswered or was never checked), the latest checks, and each
source's clock as its envelopes show it, as GET /api/v1/clock answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from labgate.adapters.store.clock_view import clock_overview
from labgate.compliance.access import Permission
from labgate.entrypoints.api.routes.clock import in_alarm
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.desk_common import desk_frame
from labgate.entrypoints.web.render import page

router = APIRouter()


@router.get("/sites/{site}/desk/clock", name="desk_clock")
def desk_clock(
    request: Request,
    site: str,
    who: Annotated[Visitor, Depends(allowed(Permission.READ))],
) -> Response:
    """The clock's state and alarm, the latest checks, the sources' clocks."""
    values = desk_frame(request, who, site, "clock")
    settings = hub_of(request).settings
    with hub_of(request).sessions() as session:
        overview = clock_overview(session)
    server = settings.ntp_server
    state = next((s for s in overview["states"] if s["server"] == server), None)
    values |= {
        **overview,
        "server": server,
        "threshold_ms": settings.ntp_max_offset_ms,
        "every": settings.ntp_check_seconds,
        "state": state,
        "alarm": in_alarm(overview, server),
    }
    return page(request, "desk_clock.html", values)
