"""Site scope: every route under /sites/{site} answers 404 for a site not in master data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from labgate.adapters.store.lists import site_exists
from labgate.compliance.access import Account
from labgate.domain.errors import NotFound
from labgate.entrypoints.api.auth import current_account, hub_of


def known_site(request: Request, site: str, _: Annotated[Account, Depends(current_account)]) -> str:
    """The site in the path, once the caller is known (401 first: no probing for sites)."""
    with hub_of(request).sessions() as session:
        if not site_exists(session, site):
            raise NotFound(
                f"No site {site}; GET /api/v1/sites lists the sites.",
                reason="site.unknown",
                field="site",
            )
    return site


SiteScope: Any = Depends(known_site)


def require_site_scope(app: FastAPI) -> None:
    """Refuse to build an app with a site-scoped route that does not check its site: an unknown
    site would answer 200 with an empty list instead of 404."""
    for route in app.routes:
        if isinstance(route, APIRoute) and "{site}" in route.path_format:
            calls = {dependency.call for dependency in route.dependant.dependencies}
            if known_site not in calls:
                raise RuntimeError(f"{route.path} does not depend on known_site.")
