"""What the inbox keeps: every accepted envelope, stream positions, and the quarantine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
