"""My work, the console's home: the counts of what waits for the visitor's roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from labgate.adapters.store.audit_review_view import overdue_periods
from labgate.adapters.store.document_facts import reader
from labgate.compliance.access import Permission
from labgate.entrypoints.web.access import SignedIn, Visitor, allowed, hub_of
from labgate.entrypoints.web.layout import frame, site_codes, site_view
from labgate.entrypoints.web.render import page, prefix
from labgate.entrypoints.web.work import my_work

router = APIRouter()


@router.get("/", name="start")
def start(request: Request, who: SignedIn) -> Response:
    """The first site's My work (a plant usually runs one site per labgate)."""
    with hub_of(request).sessions() as session:
        codes = site_codes(session)
    if not codes:
        values: dict[str, object] = {"who": who}
        return page(request, "no_site.html", values)
    return RedirectResponse(f"{prefix(request)}/sites/{codes[0]}/", status_code=303)


@router.get("/sites/{site}/", name="my_work")
def home(
    request: Request, site: str, who: Annotated[Visitor, Depends(allowed(Permission.READ))]
) -> Response:
    """Counts and links of the work waiting for the visitor's roles at the site."""
    shown = site_view(request, site)
    hub, permissions = hub_of(request), who.account.permissions()
    with hub.sessions() as session:
        computed = {}
        if Permission.REVIEW_AUDIT_TRAIL in permissions:
            now, days = hub.bus.deps.clock.now(), hub.settings.audit_review_days
            computed["audit_review"] = len(overdue_periods(session, site, now, days))
        tiles = my_work(session, site, permissions, computed)
        people = reader(session, site, [])
    values = {**frame(request, who, shown, "home"), "tiles": tiles, "people": people,
              "now": hub_of(request).bus.deps.clock.now()}  # fmt: skip
    return page(request, "home.html", values)
