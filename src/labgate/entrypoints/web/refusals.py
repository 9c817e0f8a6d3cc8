"""Refusals as pages: a redirect where the visitor must go first, otherwise a page that says
what was refused and why, each audited like an API refusal (the bus audits its own)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from labgate.domain.errors import InvalidInput, LabgateError
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web import sessions
from labgate.entrypoints.web.access import GoTo, context, hub_of
from labgate.entrypoints.web.render import is_htmx, page
from labgate.service.refusals import record_refusal

TITLES = {401: "Sign-in needed", 403: "Not allowed", 404: "Not found", 409: "Conflict",
          422: "Not accepted", 429: "Too many attempts"}  # fmt: skip


async def on_go_to(request: Request, error: Exception) -> Response:
    """303 to the page; an htmx request is told to load it whole (HX-Redirect)."""
    assert isinstance(error, GoTo)
    answer: Response
    if is_htmx(request):
        answer = Response(status_code=200, headers={"HX-Redirect": error.url})
    else:
        answer = RedirectResponse(error.url, status_code=303)
    if error.forget_cookie:
        answer.delete_cookie(sessions.COOKIE, path=str(request.scope.get("root_path") or "/"))
    return answer


async def audit(request: Request, error: LabgateError) -> None:
    """Put the refusal on the trail unless the bus already has."""
    if getattr(error, "audited", False):
        return
    hub = hub_of(request)
    actor = getattr(request.state, "actor", None)
    ctx = context(request, actor.username if actor else None, actor.kind if actor else "person")
    route = getattr(request.scope.get("route"), "name", None) or "console"
    subject = ("request", f"{request.method} {request.url.path}"[:200], None)
    await run_in_threadpool(
        record_refusal, hub.uow_factory(), hub.bus.deps, ctx, error, f"console.{route}"[:48],
        subject,
    )  # fmt: skip


async def on_refusal(request: Request, error: Exception) -> Response:
    """The refusal's page, with its status, sentence and reason code."""
    assert isinstance(error, LabgateError)
    await audit(request, error)
    who = getattr(request.state, "visitor", None)
    status = http_status(error)
    values = {"title": TITLES.get(status, "Refused"), "error": error, "who": who}
    return page(request, "refused.html", values, status=status)


async def on_http_error(request: Request, error: Exception) -> Response:
    """An unknown console path or method, as a page."""
    assert isinstance(error, HTTPException)
    shown = LabgateError(f"{error.detail}.", reason=f"http.{error.status_code}")
    values = {"title": TITLES.get(error.status_code, "Refused"), "error": shown}
    return page(request, "refused.html", values, status=error.status_code)


async def on_bad_query(request: Request, error: Exception) -> Response:
    """A query value the page does not take (a hand-made link), as a refusal page."""
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path")) or None
    wrapped = InvalidInput(f"{field or 'The request'}: {first.get('msg')}.",
                           reason=f"input.{first.get('type', 'invalid')}", field=field)  # fmt: skip
    return await on_refusal(request, wrapped)


def install(app: FastAPI) -> None:
    """Register the handlers on the console's app."""
    app.add_exception_handler(GoTo, on_go_to)
    app.add_exception_handler(RequestValidationError, on_bad_query)
    app.add_exception_handler(LabgateError, on_refusal)
    app.add_exception_handler(HTTPException, on_http_error)
