"""What a conforming receiver of labgate's envelopes checks besides the signature and the message
id (ICD section "Delivery", README "Conformance kit"): sent_at within the replay window of its own
clock, a payload that follows the published schema of its message type, and order per stream —
a message ahead of a sequence gap is held (answered 202) and applied only once the gap is filled.

`lapses` turns one check off on purpose: a simulator started with --broken, so that the
conformance kit can be seen to fail the case that check stands for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ValidationError

from labgate.compliance.envelope import Envelope, EnvelopeError

LAPSES = {
    "accept-bad-signature": "takes an envelope whose signature does not match its content",
    "accept-unknown-key": "takes an envelope signed under a key id it does not know",
    "apply-duplicates": "applies a message id it has already applied",
    "apply-out-of-order": "applies a message ahead of a sequence gap at once",
    "accept-schema-drift": "takes a payload that does not follow its message type's schema "
    "(a B2MML document that fails the V0701 XSD)",
    "accept-stale": "takes an envelope whose sent_at (a document whose CreationDateTime) is "
    "outside the replay window",
}
SKIPPED_REFUSALS = {
    "accept-bad-signature": "envelope.bad_signature",
    "accept-unknown-key": "envelope.unknown_key",
}


@dataclass(frozen=True)
class ReceiverRules:
    """The checks a receiver makes after the signature; None switches one off."""

    window: timedelta | None = timedelta(seconds=300)
    payloads: Mapping[str, type[BaseModel]] | None = None  # schema id → its payload model
    in_order: bool = True
    lapses: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(self.lapses - set(LAPSES))
        if unknown:
            raise ValueError(f"Unknown broken mode {unknown[0]!r}; use one of {', '.join(LAPSES)}.")

    def check_time(self, sent_at: datetime, received_at: datetime, name: str = "sent_at") -> None:
        """Raise EnvelopeError when the sender's time `name` is outside the replay window."""
        window = None if "accept-stale" in self.lapses else self.window
        if window is not None and abs(received_at - sent_at) > window:
            raise EnvelopeError(
                f"{name} {sent_at.isoformat()} is more than "
                f"{window.total_seconds():g} s from the receiver's clock.",
                reason="envelope.replay_window",
                field=name,
            )

    @property
    def drift_allowed(self) -> bool:
        """A --broken mode takes what its schema refuses."""
        return "accept-schema-drift" in self.lapses

    def forgives(self, error: EnvelopeError) -> bool:
        """True when a --broken mode lets this refusal pass."""
        return any(SKIPPED_REFUSALS.get(lapse) == error.reason for lapse in self.lapses)

    def check(self, envelope: Envelope, received_at: datetime) -> None:
        """Raise EnvelopeError for a stale or future sent_at, an unknown type, a drifted payload."""
        self.check_time(envelope.sent_at, received_at)
        if self.payloads is None or "accept-schema-drift" in self.lapses:
            return
        model = self.payloads.get(envelope.schema)
        if model is None:
            raise EnvelopeError(f"No message type {envelope.schema!r} is known here.",
                                reason="envelope.unknown_schema", field="schema")  # fmt: skip
        try:
            model.model_validate(envelope.payload)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in ("payload", *first["loc"]))
            raise EnvelopeError(f"{where}: {first['msg']}.", reason="envelope.schema_violation",
                                field=where) from None  # fmt: skip


class Sequenced(Protocol):
    """A message as ordering sees it: an envelope, or a document with its sequence headers."""

    @property
    def message_id(self) -> str: ...
    @property
    def schema(self) -> str: ...
    @property
    def stream(self) -> str | None: ...
    @property
    def sequence(self) -> int | None: ...


@dataclass
class Ordering:
    """Per stream, the next sequence expected and the messages held ahead of a gap. The first
    message of a stream sets where it starts (the receiver may join a stream midway); one that
    comes late (below the next expected) is applied, never dropped."""

    expected: dict[str, int] = field(default_factory=dict)
    held: dict[str, dict[int, tuple[Sequenced, datetime]]] = field(default_factory=dict)
    applied: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    def is_held(self, envelope: Sequenced) -> bool:
        """Already waiting ahead of a gap."""
        waiting = self.held.get(envelope.stream or "", {}).get(envelope.sequence or 0)
        return waiting is not None and waiting[0].message_id == envelope.message_id

    def admit(self, envelope: Sequenced, received_at: datetime) -> list[tuple[Sequenced, datetime]]:
        """What may be applied now, in order: nothing if it waits for a gap to fill."""
        stream, sequence = envelope.stream or "", envelope.sequence or 0
        expected = self.expected.setdefault(stream, sequence)
        if sequence > expected:
            self.held.setdefault(stream, {})[sequence] = (envelope, received_at)
            return []
        ready = [(envelope, received_at)]
        following = max(expected, sequence + 1)
        waiting = self.held.get(stream, {})
        while following in waiting:
            ready.append(waiting.pop(following))
            following += 1
        self.expected[stream] = following
        return ready

    def record(self, envelope: Sequenced) -> None:
        """Note a message as applied, for the evidence a conformance run reads back."""
        entry: dict[str, object] = {
            "message_id": envelope.message_id,
            "sequence": envelope.sequence,
            "schema": envelope.schema,
        }
        self.applied.setdefault(envelope.stream or "", []).append(entry)
