"""The hub's ASGI application: the REST API (routes, problem+json, offline docs, the schema
check) with the console mounted beside it."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

import labgate
from labgate.adapters.store.migrate import SchemaBehind, require_current_schema
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.domain.errors import LabgateError
from labgate.entrypoints.api import contract, problems
from labgate.entrypoints.api.middleware import BodyLimit, CorrelationId
from labgate.entrypoints.api.query_names import known_query_names
from labgate.entrypoints.api.routes import (
    access,
    alerts,
    audit_reviews,
    change_requests,
    clock,
    deviations,
    disposition,
    dq,
    em,
    health,
    icd,
    identities,
    interfaces,
    keys,
    lab,
    lists,
    masterdata,
    outbox_admin,
    raw_materials,
    records,
    replay,
    schemas,
    stability,
)
from labgate.entrypoints.api.schemas import no_nul_in_keys, short_path_keys
from labgate.entrypoints.api.scope import require_site_scope
from labgate.entrypoints.api.serving import settle_heap
from labgate.entrypoints.web.app import mount as mount_console

# The Swagger UI 5 dist files (swagger-ui-bundle.js, swagger-ui.css) as fastapi-offline ships them.
SWAGGER_UI_5 = Path(fastapi_offline.__file__).parent / "static"


def create_app(settings: Settings, hub: Hub | None = None) -> FastAPI:
    """Build the app; refuses a database whose schema is behind (SchemaBehind names the fix)."""
    settings.signing_secret()  # no token secret outside demo mode: refuse now, not at sign-in
    owned, hub = hub is None, hub or bootstrap(settings)
    try:
        require_current_schema(hub.engine)
    except SchemaBehind:
        if owned:
            hub.close()
        raise
    app = FastAPI(
        # labgate exports no OpenTelemetry: FastAPI's native telemetry would still look up the
        # global providers on every request (a fifth of the event loop's time under load).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="labgate",
        version=labgate.__version__,
        summary="MES ↔ LIMS integration hub: reviewed-result gating under Part 11 / Annex 11.",
        docs_url=None,
        redoc_url=None,
        dependencies=[
            Depends(short_path_keys),
            Depends(no_nul_in_keys),
            Depends(known_query_names),
        ],
    )
    app.state.hub = hub
    app.state.inbox_group_most = settings.inbox_group_most
    problems.install(app)
    contract.install(app, strict=settings.strict_contract)
    routers = (
        # First: the message intake is the hot path, and a request is matched against the
        # routes in order (a tenth of its time when it came eighth). No path of the routers
        # it now precedes is one of its own.
        interfaces,
        access,
        alerts,
        change_requests,
        audit_reviews,
        clock,
        deviations,
        dq,
        disposition,
        em,
        health,
        icd,
        identities,
        keys,
        lab,
        lists,
        masterdata,
        outbox_admin,
        raw_materials,
        records,
        replay,
        stability,
    )
    for module in (*routers, schemas):
        app.include_router(module.router)
    require_site_scope(app)
    _offline_docs(app)
    mount_console(app, hub)

    async def refuse_body(scope: Scope, error: LabgateError) -> ASGIApp:
        async def no_body() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        scope["app"] = app
        return await problems.on_labgate_error(Request(scope, no_body), error)

    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        refuse=refuse_body,
        max_json_depth=settings.max_json_depth,
        timeout_seconds=settings.body_timeout_seconds,
        raw_paths=frozenset({"/api/v1/inbox"}),  # the inbox quarantines what it cannot read
    )
    app.add_middleware(CorrelationId)
    return app


def app_from_environment() -> FastAPI:
    """The app as each worker process of `labgate serve --workers N` builds it: its own hub and
    connections, settings from the LABGATE_* variables."""
    app = create_app(Settings())
    settle_heap()
    return app


def _offline_docs(app: FastAPI) -> None:
    """/docs served entirely by labgate: plant networks are often closed to the internet. The
    Swagger UI is the 5.x dist that fastapi-offline ships (4.x cannot read OpenAPI 3.1)."""
    app.mount("/static/swagger", StaticFiles(directory=SWAGGER_UI_5), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="labgate API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon.png",
            # No persistAuthorization: on a shared plant workstation a bearer token left in the
            # browser's storage would outlive the person's session at the page.
            oauth2_redirect_url=None,
        )
