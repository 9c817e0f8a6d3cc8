"""The envelope's own JSON Schema (2020-12), built from the patterns the parser applies."""

from __future__ import annotations

from typing import Any, Final

from labgate.compliance import envelope as e

ENVELOPE_SCHEMA_ID: Final = "labgate.envelope"
# Lower-case only: the message id is the de-duplication key, compared as text.
_UUID7 = "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
_DETACHED = "^[A-Za-z0-9_-]+\\.\\.[A-Za-z0-9_-]+$"


def envelope_json_schema(urn: str) -> dict[str, Any]:
    """The schema every channel's envelope meets; its signature's meaning is in the description."""
    name = {"type": "string", "pattern": f"^{e.KEY_PATTERN.pattern}$", "maxLength": 64}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": urn + ENVELOPE_SCHEMA_ID,
        "title": ENVELOPE_SCHEMA_ID,
        "description": (
            "One message on any channel. signature.jws is a detached compact JWS (RFC 7515 "
            "Appendix F) with an unencoded payload (RFC 7797): protected header exactly "
            '{"alg": "Ed25519", "b64": false, "crit": ["b64"], "kid": <signature.kid>} '
            '("EdDSA" only for a key registered with alg EdDSA), over the RFC 8785 canonical '
            "JSON of the envelope without its signature member. See docs/implementers.md."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": sorted(e.MEMBERS - {"correlation_id"}),
        "properties": {
            "schema": {"type": "string", "pattern": f"^{e.SCHEMA_PATTERN.pattern}$"},
            "message_id": {"type": "string", "pattern": _UUID7},
            "correlation_id": {"type": "string", "minLength": 1, "maxLength": 64},
            "site": name,
            "source": name,
            "stream": name,
            "sequence": {"type": "integer", "minimum": 1, "maximum": 2**53 - 1},
            "sent_at": {"type": "string", "format": "date-time"},
            "payload": {"type": "object", "description": "As the schema id's payload schema."},
            "signature": {
                "type": "object",
                "additionalProperties": False,
                "required": ["alg", "jws", "kid"],
                "properties": {
                    "alg": {"enum": [e.ALGORITHM, e.LEGACY_ALGORITHM]},
                    "kid": {"type": "string", "pattern": f"^{e.KID_PATTERN.pattern}$"},
                    "jws": {"type": "string", "pattern": _DETACHED},
                },
            },
        },
        "x-direction": "both",
    }
