"""Every message schema labgate publishes, inbound and outbound, with the envelope's: the
payload models of `messages` and the wrappers built on them (file-pack manifest, B2MML)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from labgate.compliance.envelope_schema import ENVELOPE_SCHEMA_ID, envelope_json_schema
from labgate.service.b2mml_payload import B2MML_SCHEMA, B2mmlDocumentV1
from labgate.service.messages import INBOUND, OUTBOUND, SCHEMA_URN
from labgate.service.packs import PACK_SCHEMA, FilePackV1


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every schema id, inbound and outbound, with its published JSON Schema (draft 2020-12)."""
    wrappers: dict[str, type[BaseModel]] = {PACK_SCHEMA: FilePackV1, B2MML_SCHEMA: B2mmlDocumentV1}
    registries = (("inbound", INBOUND), ("inbound", wrappers), ("outbound", OUTBOUND))
    envelope = {ENVELOPE_SCHEMA_ID: envelope_json_schema(SCHEMA_URN)}
    return envelope | {
        schema_id: {
            "$schema": GenerateJsonSchema.schema_dialect,
            "$id": SCHEMA_URN + schema_id,
            **model.model_json_schema(),
            "title": schema_id,
            "x-direction": direction,
        }
        for direction, registry in registries
        for schema_id, model in registry.items()
    }
