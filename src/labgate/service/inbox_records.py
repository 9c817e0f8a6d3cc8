"""What the inbox keeps: every accepted envelope, stream positions, and the quarantine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from labgate.domain.commands import MessageRef


@dataclass(frozen=True)
class Received:
    """An envelope as the inbox took it in, recorded in the inbox in the transaction of the
    command it carries (the command's context names it by `ref`)."""

    source: str
    message_id: str
    stream: str
    sequence: int
    schema: str
    site: str
    channel: str
    raw: bytes = field(repr=False)
    # False when a message is reprocessed from quarantine: its turn on the stream was taken
    # (consumed by its refusal) or judged already; it is applied without the ordering check.
    in_turn: bool = True
    # The version of the source keys its signature was checked with (None: checked in this
    # transaction, or not at all): its transaction is undone if the keys moved since.
    keys_version: int | None = None
    # When the sender says it sent it: the source's clock, tracked against ours (skew).
    sent_at: datetime | None = None

    @property
    def ref(self) -> MessageRef:
        """The message's key, as commands name it."""
        return MessageRef(self.source, self.message_id)


@dataclass
class InboxMessage:
    """An envelope accepted for processing; (source, message id) is unique: the dedupe key."""

    source: str
    message_id: str
    stream: str
    sequence: int
    schema: str
    site: str
    correlation_id: str | None
    channel: str
    received_at: datetime
    payload_hash: str
    raw: bytes
    status: str  # applied | held | quarantined
    applied_at: datetime | None = None


@dataclass
class StreamPosition:
    """The last sequence number handled on one (source, stream)."""

    source: str
    stream: str
    last_sequence: int


@dataclass
class QuarantineItem:
    """A rejected message: its raw bytes, their hash, the reason code, never dropped."""

    received_at: datetime
    channel: str
    source: str | None
    message_id: str | None
    raw: bytes
    sha256: str
    reason_code: str
    field: str | None
    detail: str
    status: str = "open"  # open | reprocessed | discarded
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution_reason: str | None = None
