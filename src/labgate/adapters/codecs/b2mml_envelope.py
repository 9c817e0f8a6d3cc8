"""The inbox's default decoder: a JSON envelope, whose payload may be a B2MML document."""

from __future__ import annotations

from labgate.adapters.codecs.b2mml_messages import from_b2mml
from labgate.compliance.envelope import parse_envelope
from labgate.service.b2mml_payload import B2MML_SCHEMA, B2mmlMessage
from labgate.service.inbox.incoming import EnvelopeMessage, Incoming


def decode_message(raw: bytes) -> Incoming:
    """An envelope; a `labgate.b2mml.v1` one maps its document through the B2MML codec."""
    envelope = parse_envelope(raw)
    if envelope.schema == B2MML_SCHEMA:
        return B2mmlMessage(envelope, from_b2mml)
    return EnvelopeMessage(envelope)
