"""The console's own app, mounted on the API's under /console: its pages, its static files
(the project's CSS and the vendored htmx), and refusals answered as pages."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from labgate.bootstrap import Hub
from labgate.entrypoints.web import (
    accounts,
    audit,
    audit_reviews,
    batches,
    bulk,
    change_requests,
    change_steps,
    desk,
    deviation_steps,
    deviations,
    disposition,
    dq,
    home,
    masterdata,
    panel,
    refusals,
    review,
    samples,
    signin,
    worklist,
    worklist_entry,
)
from labgate.entrypoints.web.lab_pages import LAB_PAGES
from labgate.entrypoints.web.render import STATIC

MOUNT = "/console"


def console_app(hub: Hub) -> FastAPI:
    """The console, on the same hub (bus, store, clock) as the API."""
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},  # as the API's (app.py)
    )
    app.state.hub = hub
    refusals.install(app)
    for module in (
        signin,
        home,
        review,
        bulk,  # before the panel: /review/bulk-approval is not a result's panel
        panel,
        batches,
        samples,
        deviations,
        deviation_steps,
        dq,
        desk,
        worklist,
        worklist_entry,
        disposition,
        *LAB_PAGES,
        audit,
        audit_reviews,
        accounts,
        masterdata,
        change_steps,
        change_requests,
    ):
        app.include_router(module.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def mount(api: FastAPI, hub: Hub) -> None:
    """Serve the console under /console; `/` and `/console` lead there."""
    api.mount(MOUNT, console_app(hub), name="console")

    # Plain Starlette routes, not API operations: they answer a redirect to anyone, and the
    # API's guards (sign-in on every operation) do not apply to them.
    async def to_console(request: Request) -> Response:
        return RedirectResponse(f"{MOUNT}/", status_code=307)

    for path in ("/", MOUNT):
        api.add_route(path, to_console, methods=["GET", "HEAD"], include_in_schema=False)
