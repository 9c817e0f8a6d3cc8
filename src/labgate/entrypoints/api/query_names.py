"""Query parameters an operation does not take are refused, not ignored: a client that sends
`offset=100` to a cursor-paged list, or `bacth=B-1`, would otherwise get an answer to a question it
did not ask and could not tell."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from labgate.domain.errors import InvalidInput


async def known_query_names(request: Request) -> None:
    """Refuse a query parameter the matched operation does not declare (422, named)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    taken = _taken(route)
    for name in request.query_params:
        if name not in taken:
            shown = name if len(name) <= 40 else name[:40] + "…"
            raise InvalidInput(
                f"The query parameter {shown!r} is not one this operation takes; "
                f"it takes: {', '.join(sorted(taken)) or 'none'} (see /docs).",
                reason="input.unknown_parameter",
                field=shown,
            )


_TAKEN: dict[int, frozenset[str]] = {}  # by route: routes define __eq__, so are not hashable


def _taken(route: APIRoute) -> frozenset[str]:
    taken = _TAKEN.get(id(route))
    if taken is None:
        taken = _TAKEN[id(route)] = frozenset(names_taken(route.dependant))
    return taken


def names_taken(dependant: Dependant) -> set[str]:
    """The query parameter names an operation's dependency tree declares (a query model's
    fields by name)."""
    names: set[str] = set()
    for param in dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):  # a query model's fields
            names |= {f.alias or n for n, f in model.model_fields.items()}
        else:
            names.add(param.alias)
    for child in dependant.dependencies:
        names |= names_taken(child)
    return names
