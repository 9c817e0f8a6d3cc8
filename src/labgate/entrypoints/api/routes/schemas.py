"""The published message payload schemas: what the MES and the LIMS send and receive."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from labgate.compliance.access import Account, Permission
from labgate.domain.errors import NotFound
from labgate.entrypoints.api.answers.interfaces import SchemaList
from labgate.entrypoints.api.auth import require
from labgate.entrypoints.api.contract import refuses
from labgate.service.schema_catalog import json_schemas

PREFIX = "/api/v1/schemas"
router = APIRouter(prefix=PREFIX, tags=["message schemas"])


class SchemaDocument(JSONResponse):
    """A JSON Schema document, under its own media type."""

    media_type = "application/schema+json"


@router.get("", summary="Every message payload schema, inbound and outbound")
def list_schemas(_: Account = Depends(require(Permission.READ))) -> SchemaList:
    """Schema ids, their direction and where to fetch each."""
    items = [
        {"id": schema_id, "direction": schema["x-direction"], "url": f"{PREFIX}/{schema_id}"}
        for schema_id, schema in sorted(json_schemas().items())
    ]
    return SchemaList.model_validate({"items": items, "total": len(items)})


@router.get(
    "/{schema_id}",
    summary="One message payload schema (JSON Schema 2020-12)",
    response_class=SchemaDocument,
    responses={
        200: {
            "description": "The payload's JSON Schema (draft 2020-12), with `x-direction`.",
            "content": {
                "application/schema+json": {
                    # A JSON Schema document: its content is the schema itself, open by nature.
                    "schema": {"type": "object", "additionalProperties": True}
                }
            },
        }
    },
    openapi_extra=refuses({404: ("schema.unknown",)}),
)
def get_schema(schema_id: str, _: Account = Depends(require(Permission.READ))) -> SchemaDocument:
    """The JSON Schema of one payload, by schema id."""
    schema = json_schemas().get(schema_id)
    if schema is None:
        raise NotFound(
            f"No message schema {schema_id}; GET {PREFIX} lists them.",
            reason="schema.unknown",
            field="schema_id",
        )
    return SchemaDocument(schema)
