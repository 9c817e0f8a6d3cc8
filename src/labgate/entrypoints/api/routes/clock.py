"""Trusted time: the hub's clock as checked against the plant's NTP server, and each source's
clock as its envelopes show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request

from labgate.adapters.store.clock_view import clock_overview
from labgate.compliance.access import Account, Permission
from labgate.compliance.clock import iso_utc
from labgate.compliance.time_check import ClockStatus
from labgate.entrypoints.api.answers.clock import ClockOverview
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.routes.lab import allowed

router = APIRouter(prefix="/api/v1", tags=["interfaces"])


@router.get("/clock", summary="Trusted time: the clock checks and the sources' clocks")
def clock(request: Request, _: Account = allowed(Permission.READ)) -> ClockOverview:
    """The configured NTP server's state and whether it is an alarm (drift beyond
    LABGATE_NTP_MAX_OFFSET_MS, no answer, or never checked), the latest checks, and each
    source's received_at - sent_at."""
    settings = hub_of(request).settings
    with hub_of(request).sessions() as session:
        overview = clock_overview(session)
    return ClockOverview.model_validate(
        {
            "configured_server": settings.ntp_server,
            "threshold_ms": settings.ntp_max_offset_ms,
            "alarm": in_alarm(overview, settings.ntp_server),
            **{part: [_wired(row) for row in rows] for part, rows in overview.items()},
        }
    )


def _wired(row: dict[str, Any]) -> dict[str, Any]:
    """Times as every view renders them (iso_utc), statuses by name; milliseconds stay numbers
    (they are measurements, not GxP values: nothing is signed or hashed over them here)."""
    return {
        name: iso_utc(value) if isinstance(value, datetime)
        else value.value if isinstance(value, ClockStatus) else value
        for name, value in row.items()
    }  # fmt: skip


def in_alarm(overview: dict[str, Any], server: str | None) -> bool:
    """The configured server's state is not ok, or it was never checked."""
    if server is None:
        return False
    state = next((s for s in overview["states"] if s["server"] == server), None)
    return state is None or state["status"] is not ClockStatus.OK
