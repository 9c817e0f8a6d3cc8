"""The published message schemas (GET /api/v1/schemas and /schemas/{schema_id}): the list, and
one schema pretty-printed as JSON text (escaped like every value on a page)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from labgate.compliance.access import Permission
from labgate.domain.errors import NotFound
from labgate.entrypoints.web.access import Visitor, allowed
from labgate.entrypoints.web.desk_common import desk_frame
from labgate.entrypoints.web.render import page
from labgate.service.schema_catalog import json_schemas

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]


@router.get("/sites/{site}/desk/schemas", name="desk_schemas")
def schemas(request: Request, site: str, who: Reading) -> Response:
    """Every payload schema, inbound and outbound, by id."""
    items = [
        {"id": schema_id, "direction": schema["x-direction"], "title": schema.get("title")}
        for schema_id, schema in sorted(json_schemas().items())
    ]
    values = desk_frame(request, who, site, "schemas")
    return page(request, "desk_schemas.html", values | {"schemas": items, "schema": None})


@router.get("/sites/{site}/desk/schemas/{schema_id}", name="desk_schema")
def schema(request: Request, site: str, schema_id: str, who: Reading) -> Response:
    """One schema as the API publishes it (JSON Schema 2020-12)."""
    found = json_schemas().get(schema_id)
    if found is None:
        raise NotFound(f"No message schema {schema_id}.", reason="schema.unknown",
                       field="schema_id")  # fmt: skip
    shown = {"id": schema_id, "direction": found.get("x-direction"),
             "text": json.dumps(found, indent=2, ensure_ascii=False, sort_keys=True)}  # fmt: skip
    values = desk_frame(request, who, site, "schemas")
    return page(request, "desk_schema.html", values | {"schema": shown})
