"""RFC 9457 problem+json for every refusal, each audited with its reason code."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from labgate.compliance.throttle import UNAUTHENTICATED, Throttled
from labgate.domain.commands import Context
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.entrypoints.api import contract
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.http_errors import FrameworkRefusal, http_status
from labgate.service.messages import KEY_LENGTH
from labgate.service.refusals import record_refusal

log = logging.getLogger("labgate.api")

# Where the body's schema already refuses what a handler would, the handler's reason code is kept
# so a client sees one code whichever layer caught it.
_FIELD_RULES: dict[tuple[str | None, str], str] = {
    ("signature.meaning", "literal_error"): "signature.wrong_meaning"
}


def problem(
    request: Request, status: int, reason: str, detail: str, field: str | None
) -> JSONResponse:
    """A problem+json response."""
    contract.check(request, status, reason)
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
        actor_kind=account.kind if account else UNAUTHENTICATED,
        correlation_id=getattr(request.state, "correlation_id", None),
        payload_hash=getattr(request.state, "payload_hash", None),
        client=request.client.host if request.client else None,
    )


async def _audit(request: Request, error: LabgateError) -> int | None:
    """Audit the refusal (unless the bus has); the seconds to wait if the client is throttled."""
    if getattr(error, "audited", False):
        return None
    hub = hub_of(request)
    ctx = await request_context(request)
    # Audit columns are bounded (action 64, record id 200, site 64; PostgreSQL enforces it): the
    # action is the route's name, the request line the record id, and an over-long site is none.
    # No text column holds a NUL character (PostgreSQL refuses it): a path with one is recorded
    # as the client sent it, percent-encoded, and a site with one is none.
    route = getattr(request.scope.get("route"), "name", None) or "request"
    path = request.url.path
    if "\x00" in path:
        path = bytes(request.scope.get("raw_path") or b"").decode("latin-1")
    line = f"{request.method} {path}"[:200]
    site = request.path_params.get("site")
    site = site if site is not None and len(site) <= KEY_LENGTH and "\x00" not in site else None
    subject = ("request", line, site)
    uow = hub.uow_factory()
    return await run_in_threadpool(
        record_refusal, uow, hub.bus.deps, ctx, error, route[:48], subject
    )


async def on_labgate_error(request: Request, error: Exception) -> JSONResponse:
    """Map labgate's errors to problem+json, auditing any the bus has not; a client past its
    rate of refusals without signing in is answered 429 instead."""
    assert isinstance(error, LabgateError)
    wait = await _audit(request, error)
    if isinstance(error, Throttled):
        wait = error.retry_after
    elif wait is not None:
        error = Throttled(
            f"Too many refused requests from this client without signing in; retry in {wait} "
            "seconds.",
            retry_after=wait,
        )
    answer = problem(request, http_status(error), error.reason, error.message, error.field)
    if wait is not None:
        answer.headers["Retry-After"] = str(wait)
    return answer


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
        reason = _FIELD_RULES.get((field, rule), f"input.{rule}")
        wrapped = InvalidInput(
            f"{field or 'The request'}: {first.get('msg')}.", reason=reason, field=field
        )
    return await on_labgate_error(request, wrapped)


async def on_http_error(request: Request, error: Exception) -> JSONResponse:
    """Framework errors (unknown route, wrong method, a body it cannot parse) as problem+json,
    audited like every other refusal."""
    assert isinstance(error, HTTPException)
    known: dict[int, tuple[str, str]] = {
        404: ("route.unknown", "No route has this path; see /docs for the routes."),
        405: ("route.method_not_allowed", "The route does not take this method; see /docs."),
        400: ("request.unreadable", "The request body cannot be read as its content type."),
    }
    reason, detail = known.get(error.status_code, ("http.error", f"{error.detail}."))
    refusal = FrameworkRefusal(detail, reason=reason, status_code=error.status_code)
    answer = await on_labgate_error(request, refusal)
    for name, value in (error.headers or {}).items():
        answer.headers.setdefault(name, value)
    if error.status_code == 405:
        answer.headers["Allow"] = ", ".join(allowed_methods(request))
    return answer


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (RFC 9110 §15.5.6). Starlette's own `Allow`
    names only the first route whose path matched, so GET and POST declared as two routes on one
    path would answer a DELETE with `Allow: POST` alone."""
    path = request.url.path
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        template, found = route.path, route.methods
        if template and found and compile_path(template)[0].match(path):
            methods |= found
    return sorted(methods)


async def on_unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A fault in labgate itself: problem+json naming the correlation id, logged in full, and
    audited when the trail can be written (it may be what failed)."""
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    fault = FrameworkRefusal(
        "labgate failed to answer this request; the administrator can find the cause in the "
        "server log by its correlation id.",
        reason="server.error",
        status_code=500,
    )
    try:
        await _audit(request, fault)
    except Exception:
        log.exception("the refusal of %s could not be audited", request.url.path)
    return problem(request, 500, fault.reason, fault.message, None)


def install(app: FastAPI) -> None:
    """Register the handlers."""
    app.add_exception_handler(LabgateError, on_labgate_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
