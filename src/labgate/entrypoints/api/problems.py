"""RFC 9457 problem+json for every refusal, each audited with its reason code."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from labgate.domain.commands import Context
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.entrypoints.api.auth import hub_of
from labgate.service.messages import KEY_LENGTH
from labgate.service.refusals import record_refusal

log = logging.getLogger("labgate.api")


def problem(
    request: Request, status: int, reason: str, detail: str, field: str | None
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"urn:labgate:problem:{reason}",
        "title": reason.replace(".", ": ").replace("_", " "),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "reason": reason,
        "field": field,
        "correlation_id": getattr(request.state, "correlation_id", None),
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def request_context(request: Request) -> Context:
    """Who is acting (if known), the trace id and the hash of the raw request body."""
    account = getattr(request.state, "actor", None)
    return Context(
        actor=account.username if account else "anonymous",
        actor_kind=account.kind if account else "unauthenticated",
        correlation_id=getattr(request.state, "correlation_id", None),
        payload_hash=getattr(request.state, "payload_hash", None),
    )


async def _audit(request: Request, error: LabgateError) -> None:
    if getattr(error, "audited", False):
        return
    hub = hub_of(request)
    ctx = await request_context(request)
    # Audit columns are bounded (action 64, record id 200, site 64; PostgreSQL enforces it): the
    # action is the route's name, the request line the record id, and an over-long site is none.
    route = getattr(request.scope.get("route"), "name", None) or "request"
    line = f"{request.method} {request.url.path}"[:200]
    site = request.path_params.get("site")
    site = site if site is not None and len(site) <= KEY_LENGTH else None
    record_refusal(hub.uow_factory(), hub.bus.deps, ctx, error, route[:48], ("request", line, site))


async def on_labgate_error(request: Request, error: Exception) -> JSONResponse:
    """Map labgate's errors to problem+json, auditing any the bus has not."""
    assert isinstance(error, LabgateError)
    await _audit(request, error)
    return problem(request, error.status, error.reason, error.message, error.field)


async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
    """Bad request bodies and parameters: the first fault, by field and rule."""
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0]
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(location) or None
    if first.get("type") == "json_invalid":
        wrapped = InvalidInput("The request body is not valid JSON.", reason="request.not_json")
    else:
        rule = first.get("type", "invalid")
        wrapped = InvalidInput(
            f"{field or 'The request'}: {first.get('msg')}.", reason=f"input.{rule}", field=field
        )
    return await on_labgate_error(request, wrapped)


async def on_http_error(request: Request, error: Exception) -> JSONResponse:
    """Framework errors (unknown route, wrong method) as problem+json too."""
    assert isinstance(error, HTTPException)
    reason = {404: "route.unknown", 405: "route.method_not_allowed"}.get(
        error.status_code, "http.error"
    )
    return problem(request, error.status_code, reason, str(error.detail), None)


def install(app: FastAPI) -> None:
    """Register the handlers."""
    app.add_exception_handler(LabgateError, on_labgate_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
