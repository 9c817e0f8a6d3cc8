"""What every signed-in page shows around its content: the site, its time zone, and the
navigation of the visitor's role (a link the visitor may not use is not shown)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from labgate.adapters.store import lists
from labgate.adapters.store.document_facts import site_zone
from labgate.compliance.access import Permission
from labgate.domain.errors import NotFound
from labgate.entrypoints.web.access import Visitor, hub_of


@dataclass(frozen=True)
class NavLink:
    """One entry of the navigation: its label, its page under the site, the permission its
    page declares."""

    label: str
    path: str
    permission: Permission
    key: str


NAV = (
    NavLink("My work", "/", Permission.READ, "home"),
    NavLink("Worklist", "/worklist", Permission.ENTER_RESULT, "worklist"),
    NavLink("Review queue", "/review", Permission.READ, "review"),
    NavLink("Batches", "/batches", Permission.READ, "batches"),
    NavLink("Deviations", "/deviations", Permission.READ, "deviations"),
    NavLink("Data quality", "/dq", Permission.READ, "dq"),
    NavLink("Lab data", "/stability", Permission.READ, "labdata"),
    NavLink("Master data", "/masterdata", Permission.READ, "masterdata"),
    NavLink("Change control", "/change-requests", Permission.READ, "changes"),
    NavLink("Integration desk", "/desk", Permission.READ_QUARANTINE, "desk"),
    NavLink("Audit trail", "/audit", Permission.READ_AUDIT, "audit"),
    NavLink("Trail reviews", "/audit-reviews", Permission.READ_AUDIT, "audit_reviews"),
    NavLink("Accounts", "/accounts", Permission.MANAGE_USERS, "accounts"),
)


@dataclass(frozen=True)
class SiteView:
    """The site a page is about, and the zone its times are shown in."""

    code: str
    name: str
    zone: str


def site_view(request: Request, site: str) -> SiteView:
    """The site in the path; NotFound (404 page) for one not in master data."""
    with hub_of(request).sessions() as session:
        for row in session.execute(lists.sites_query()).mappings():
            if row["code"] == site:
                return SiteView(site, row["name"], site_zone(session, site))
    raise NotFound(f"No site {site}.", reason="site.unknown", field="site")


def site_codes(session: Session) -> list[str]:
    """Every site, by code (the switcher in the header)."""
    return [row["code"] for row in session.execute(lists.sites_query()).mappings()]


def frame(request: Request, who: Visitor, site: SiteView, current: str) -> dict[str, Any]:
    """The values base.html needs: visitor, site, the visitor's navigation, the sites."""
    with hub_of(request).sessions() as session:
        codes = site_codes(session)
    links = [link for link in NAV if who.may(link.permission)]
    return {"who": who, "site": site, "nav": links, "current": current, "sites": codes}
