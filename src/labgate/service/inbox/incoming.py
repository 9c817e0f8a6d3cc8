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
from labgate.domain.errors import LabgateError
from labgate.service.messages import parse_payload, to_command


class Incoming(Protocol):
    """One received message, readable enough to be routed; checked before it is applied."""

    @property
    def envelope(self) -> Envelope:
        """The signed envelope: source, key, stream, sequence, message id."""

    def check(self) -> None:
        """What the signature covers beyond the envelope (a pack's files against their digests);
        the payload itself is content, checked in the message's turn."""

    def command(self, ctx: Context) -> Command:
        """The command this message asks for, on behalf of `ctx`."""


Decoder = Callable[[bytes], Incoming]


class RouteMismatch(LabgateError):
    """An envelope that names another site or source than the route it came by."""

    default_reason = "channel.route_mismatch"


@dataclass(frozen=True)
class Route:
    """The site and source a channel's route vouches for (an MQTT topic's levels)."""

    where: str  # how the route was named, for the message: "topic labgate/S1/lims/in"
    site: str
    source: str

    def check(self, envelope: Envelope) -> None:
        """The envelope's site and source are the route's: a partner's topic carries only its
        own messages, so one partner cannot speak for another by publishing on its topic."""
        for name, expected, claimed in (
            ("site", self.site, envelope.site),
            ("source", self.source, envelope.source),
        ):
            if claimed != expected:
                raise RouteMismatch(
                    f"The envelope's {name} is {claimed[:80]!r}, but it came by {self.where}, "
                    f"which carries {name} {expected!r} only.",
                    field=name,
                )


@dataclass
class EnvelopeMessage:
    """A JSON envelope whose payload becomes exactly one command."""

    envelope: Envelope
    _payload: BaseModel | None = field(default=None, repr=False)

    def check(self) -> None:
        """Nothing beyond the signature: the payload's schema is checked with its command."""

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
