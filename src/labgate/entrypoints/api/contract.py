"""The API's refusals in the OpenAPI: for every operation, each status it can answer with
problem+json (RFC 9457) and the reason codes it can give there.

A route declares the reasons of its own rules beside itself (`refuses`); what every route of a kind
can answer (401 and 403 for a signed-in route, 404 for an unknown site, 400/408/413/422 for a body,
429 for a client refused too often) is derived here from the route, so it cannot be forgotten.
With `strict_contract` on (the test suite), a refusal the operation does not document is a fault
of labgate, raised instead of answered: every test that meets a refusal checks the document.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, Field

from labgate.entrypoints.api.auth import current_account
from labgate.entrypoints.api.query_names import names_taken

EXTENSION = "x-refusals"
INPUT_PATTERN = r"^input\.[a-z_]+$"  # pydantic's rule names: input.missing, input.string_too_long…

SIGN_IN = ("auth.missing", "auth.token_invalid", "auth.token_expired", "auth.bad_api_key")
PERMISSION = ("auth.inactive", "auth.password_change_required", "access.missing_permission")
BODY_READ = (
    "request.unreadable",
    "request.malformed",
    "request.bad_charset",
    "request.not_utf8",
    "request.too_deep",
    "request.lone_surrogate",
    "request.nul_character",
)
# A cursor-paged list (paging.decode_cursor) refuses a `cursor` query parameter it did not give.
CURSOR_INVALID = "page.cursor_invalid"
STATUS_TEXT = {
    400: "The body cannot be read as its content type",
    401: "Not signed in, or the credentials are not valid",
    403: "Signed in, but not allowed",
    404: "A key in the path names nothing",
    408: "The body took too long to arrive",
    409: "The request clashes with the record's state",
    413: "The body is larger than allowed",
    422: "A value breaks a rule (the field and the rule are named)",
    429: "Too many refused requests from this client without signing in (Retry-After)",
    502: "A partner system did not take the message",
}


class Problem(BaseModel):
    """RFC 9457 problem details, with labgate's stable reason code and the field at fault."""

    type: str = Field(description="urn:labgate:problem:<reason>")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="A sentence for a person; may be reworded between releases.")
    instance: str = Field(description="The request's path.")
    reason: str = Field(description="The stable reason code: a client branches on this.")
    field: str | None = Field(description="The field at fault, dotted, where there is one.")
    correlation_id: str | None = Field(description="Trace id; the audit trail and logs carry it.")


def refuses(by_status: Mapping[int, Iterable[str]]) -> dict[str, Any]:
    """`openapi_extra` for a route: the reason codes of its own rules, by status."""
    return {EXTENSION: {str(status): sorted(set(codes)) for status, codes in by_status.items()}}


class UndocumentedRefusal(AssertionError):
    """A refusal whose status or reason code the operation's OpenAPI does not document."""


def document_responses(description: str, model: Any = None) -> dict[int | str, Any]:
    """The 200 answer of a route that serves a printed record: PDF, HTML or canonical JSON,
    with the SHA-256 of the bytes in `Repr-Digest` (RFC 9530)."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            "text/html": {"schema": {"type": "string"}},
        },
        "headers": {
            "Repr-Digest": {
                "description": "SHA-256 of the bytes (RFC 9530).",
                "schema": {"type": "string"},
            }
        },
    }
    if model is not None:
        answer["model"] = model
    else:
        answer["content"]["application/json"] = {"schema": {"type": "object"}}
    return {200: answer}


def documented(route: RouteContext) -> dict[int, frozenset[str]]:
    """Every status the route can refuse with, and its reason codes (derived + declared). The
    context, not the route alone, has the dependencies its routers add (sign-in, site scope)."""
    found: dict[int, set[str]] = {429: {"rate.limited"}}
    calls = set(_calls(route.dependant))
    if current_account in calls or any(getattr(call, "signs_in", False) for call in calls):
        found.setdefault(401, set()).update(SIGN_IN)
    if any(getattr(call, "permission", None) for call in calls):
        found.setdefault(403, set()).update(PERMISSION)
    if "{site}" in (route.path_format or ""):
        found.setdefault(404, set()).add("site.unknown")
    found.setdefault(422, set())  # any operation refuses a query parameter it does not take
    if "cursor" in names_taken(route.dependant):
        found[422].add(CURSOR_INVALID)
    if route.body_field is not None or route.path_format == "/api/v1/inbox":
        found.setdefault(400, set()).update(BODY_READ)
        found.setdefault(408, set()).add("request.body_timeout")
        found.setdefault(413, set()).add("request.too_large")
        found.setdefault(422, set()).add("request.not_json")
    for status, codes in (route.openapi_extra or {}).get(EXTENSION, {}).items():
        found.setdefault(int(status), set()).update(codes)
    return {status: frozenset(codes) for status, codes in sorted(found.items())}


def _operations(app: FastAPI) -> Iterator[RouteContext]:
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def _by_route(app: FastAPI) -> dict[int, dict[int, frozenset[str]]]:
    known: dict[int, dict[int, frozenset[str]]] | None = getattr(app.state, "refusals", None)
    if known is None:
        known = {id(c.original_route): documented(c) for c in _operations(app)}
        app.state.refusals = known
    return known


def check(request: Request, status: int, reason: str) -> None:
    """Raise if the matched operation does not document this refusal (strict mode only)."""
    if status >= 500 or not getattr(request.app.state, "strict_contract", False):
        return
    route = request.scope.get("route")
    # Refused before routing: unknown path, wrong method (Starlette still names the route whose
    # path matched, but no operation of it was asked for), body limits.
    if not isinstance(route, APIRoute) or request.method not in (route.methods or ()):
        return
    codes = _by_route(request.app)[id(route)].get(status)
    allowed = codes is not None and (
        reason in codes or (status == 422 and reason.startswith("input."))
    )
    if not allowed:
        raise UndocumentedRefusal(
            f"{request.method} {route.path_format} answered {status} {reason}, which its "
            f"OpenAPI does not document; add it with refuses() on the route."
        )


def install(app: FastAPI, *, strict: bool) -> None:
    """Generate the OpenAPI with every operation's refusals; check them at run time if strict."""
    app.state.strict_contract = strict

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_refusals(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_refusals(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for route in _operations(app):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = spec["paths"][route.path_format][method.lower()]
            operation.pop(EXTENSION, None)
            responses = operation["responses"]
            responses.pop("422", None)  # FastAPI's own HTTPValidationError: labgate never sends it
            for status, codes in documented(route).items():
                responses[str(status)] = _problem_response(status, codes)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in str(spec["paths"]).replace("'", '"'):
            schemas.pop(unused, None)
    return spec


def _problem_response(status: int, codes: frozenset[str]) -> dict[str, Any]:
    listed = sorted(codes)
    reason: dict[str, Any] = {"enum": listed}
    if status == 422:
        pattern = {"type": "string", "pattern": INPUT_PATTERN}
        reason = {"anyOf": [{"enum": listed}, pattern]} if listed else pattern
    words = ", ".join(f"`{code}`" for code in listed)
    if status == 422:
        words = ", ".join(filter(None, (words, "`input.<rule>` for a field the schema refuses")))
    return {
        "description": f"{STATUS_TEXT.get(status, 'Refused')}. Reason codes: {words}.",
        "content": {
            "application/problem+json": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {"type": "object", "properties": {"reason": reason}},
                    ]
                }
            }
        },
    }


def _calls(dependant: Dependant) -> Iterator[Any]:
    for child in dependant.dependencies:
        yield child.call
        yield from _calls(child)
