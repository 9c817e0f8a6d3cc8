"""What every page of the integration desk shares: its own tabs (each shown only to a role that
may open its page), the site's frame, and how long ago something happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request

from labgate.adapters.store.document_facts import reader
from labgate.compliance.access import Permission
from labgate.entrypoints.web.access import Visitor, hub_of
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.render import prefix


@dataclass(frozen=True)
class DeskTab:
    """One page of the desk: its label, its path under the desk, the permission it declares."""

    label: str
    path: str
    permission: Permission
    key: str


TABS = (
    DeskTab("Streams", "", Permission.READ_QUARANTINE, "streams"),
    DeskTab("Quarantine", "/quarantine", Permission.READ_QUARANTINE, "quarantine"),
    DeskTab("Outbox", "/outbox", Permission.READ_OUTBOX, "outbox"),
    DeskTab("Keys", "/keys", Permission.READ, "keys"),
    DeskTab("Schemas", "/schemas", Permission.READ, "schemas"),
    DeskTab("ICD", "/icd", Permission.READ, "icd"),
    DeskTab("Clock", "/clock", Permission.READ, "clock"),
)


def desk_url(request: Request, site: str) -> str:
    """The desk's address at the site."""
    return f"{prefix(request)}/sites/{site}/desk"


def desk_frame(
    request: Request, who: Visitor, site: str, tab: str, users: list[str | None] | None = None
) -> dict[str, Any]:
    """The site's frame, the desk's tabs for the visitor, and the reader of the site's times."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        people = reader(session, site, users or [])
    return {
        **frame(request, who, shown, "desk"),
        "people": people,
        "desk": desk_url(request, site),
        "desk_tabs": [d for d in TABS if who.may(d.permission)],
        "desk_tab": tab,
        "now": hub_of(request).bus.deps.clock.now(),
    }


def since(now: datetime, then: datetime | None) -> str:
    """How long ago, to the second ("2 d 3 h 4 min 5 s"); '—' for never."""
    if then is None:
        return "—"
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "in the future (clock skew)"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")]
    shown = [f"{n} {unit}" for n, unit in parts if n]
    return " ".join([*shown, f"{seconds} s"])
