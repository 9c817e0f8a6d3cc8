"""What the inbox receives, whatever its wire form: a signed envelope to check, and the command
it asks for. A plain envelope carries one payload; a file pack's signed manifest covers its
data files. Channels name their decoder; plain envelopes are the default."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from labgate.compliance.envelope import Envelope, parse_envelope
from labgate.domain.commands import Command, Context
from labgate.service.messages import parse_payload, to_command


class Incoming(Protocol):
    """One received message, readable enough to be routed; checked before it is applied."""

    @property
    def envelope(self) -> Envelope:
        """The signed envelope: source, key, stream, sequence, message id."""

    def check(self) -> None:
        """Everything past the signature: the payload's schema (and a pack's files)."""

    def command(self, ctx: Context) -> Command:
        """The command this message asks for, on behalf of `ctx`."""


Decoder = Callable[[bytes], Incoming]


@dataclass
class EnvelopeMessage:
    """A JSON envelope whose payload becomes exactly one command."""

    envelope: Envelope
    _payload: BaseModel | None = field(default=None, repr=False)

    def check(self) -> None:
        """The payload follows its versioned schema."""
        self.payload()

    def payload(self) -> BaseModel:
        """The payload, checked against its schema; read once."""
        if self._payload is None:
            self._payload = parse_payload(self.envelope.schema, self.envelope.payload)
        return self._payload

    def command(self, ctx: Context) -> Command:
        """The payload's command, in the envelope's site."""
        envelope = self.envelope
        return to_command(envelope.schema, self.payload(), ctx, envelope.site)


def decode_envelope(raw: bytes) -> EnvelopeMessage:
    """The default decoder: the raw bytes are one envelope."""
    return EnvelopeMessage(parse_envelope(raw))
