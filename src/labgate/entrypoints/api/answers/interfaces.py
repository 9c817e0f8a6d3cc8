"""The answers of the interfaces: the inbox, the quarantine, outbox delivery, message schemas
and the health probes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from labgate.entrypoints.api.wire import Answer, Code, Count, Hash, UtcTime

RowNumber = Field(ge=1, le=2**63 - 1)


class InboxReceipt(Answer):
    """What happened to an envelope the inbox took (refusals are problems, quarantined)."""

    status: Literal["applied", "duplicate", "held"] = Field(
        description="`applied`: done now; `duplicate`: done before, nothing changed; `held`: "
        "waits for an earlier sequence number (answered 202)."
    )
    message_id: str
    outcome: str | list[str] | None = Field(
        description="What the message made or changed: a sample's or result's code, or one per "
        "result of a message carrying several; null unless applied."
    )


QuarantineStatus = Literal["open", "reprocessed", "discarded"]


class QuarantineItem(Answer):
    """A refused message waiting for an operator, without its raw bytes."""

    id: int = RowNumber
    received_at: UtcTime
    channel: str = Field(description="Where it came in: rest, amqp, mqtt, folder, sftp…")
    source: str | None = Field(description="The sending system, when the envelope named one.")
    message_id: str | None
    sha256: Hash = Field(description="SHA-256 of the raw bytes as received.")
    reason_code: str = Field(description="Why it was refused: the refusal's reason code.")
    field: str | None
    detail: str
    status: QuarantineStatus


class QuarantineRecord(Answer):
    """One quarantined message with its raw bytes and how it was resolved."""

    id: int = RowNumber
    received_at: UtcTime
    channel: str
    source: str | None
    message_id: str | None
    sha256: Hash
    reason_code: str
    field: str | None
    detail: str
    status: QuarantineStatus
    resolved_by: str | None
    resolved_at: UtcTime | None
    resolution_reason: str | None
    raw_base64: str = Field(description="The raw bytes as received, base64.")
    raw_text: str | None = Field(description="The raw bytes as text, when they are UTF-8.")


class QuarantineResolved(Answer):
    """An operator's decision, applied."""

    item: int = RowNumber
    status: Literal["reprocessed", "discarded"]
    # Only a reprocessed message has one: absent, not null, for a discarded one.
    outcome: str | list[str] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="What the reprocessed message made: a code, or one per record of a pack "
        "(or its receipt status when held or a duplicate); absent when discarded.",
    )


Destination = Literal["mes", "lims"]  # service/outbox/records.py: MES, LIMS
DeliveryStatus = Literal["pending", "delivered", "dead", "held"]


class OutboxMessage(Answer):
    """A message owed to the MES or the LIMS, with its delivery state."""

    id: int = RowNumber
    site: Code
    destination: Destination
    message_type: str
    schema_: str = Field(alias="schema")
    message_id: str
    correlation_id: str | None
    record_id: str
    # The payload of its message type: its schema is published at GET /api/v1/schemas/{schema}.
    payload: dict[str, Any]
    created_at: UtcTime
    status: DeliveryStatus
    attempts: Count = Field(description="Attempts in the current round.")
    next_attempt_at: UtcTime | None
    last_error: str | None
    delivered_at: UtcTime | None
    sequence: Count | None
    seal_seq: Count | None = Field(description="The audit entry holding its content hash.")


class OutboxPage(Answer):
    """A page of outbox messages, oldest first."""

    items: list[OutboxMessage]
    total: Count
    limit: int = Field(ge=1, le=1000)
    offset: Count


class DeliveryAttempt(Answer):
    """One attempt to hand a message over, and the receiver's answer."""

    attempt: int = Field(ge=1, le=2**31 - 1)
    attempted_at: UtcTime
    outcome: Literal["delivered", "failed", "refused", "held"]
    detail: str | None


class DeliveryHistory(Answer):
    """A message's delivery state and every attempt made, oldest first."""

    message_id: str
    site: Code
    destination: Destination
    message_type: str
    status: DeliveryStatus
    attempts: Count
    next_attempt_at: UtcTime | None
    last_error: str | None
    delivered_at: UtcTime | None
    items: list[DeliveryAttempt]


class Requeued(Answer):
    """The dead-lettered messages given a fresh round of attempts."""

    requeued: list[str] = Field(description="Their message ids.")
    reason: str


class SchemaItem(Answer):
    """A published message payload schema."""

    id: str
    direction: Literal["inbound", "outbound", "both"] = Field(
        description="Who sends it: `inbound` to labgate, `outbound` from it, `both` (the envelope)."
    )
    url: str = Field(description="Where to fetch its JSON Schema.")


class SchemaList(Answer):
    """Every message payload schema, by id."""

    items: list[SchemaItem]
    total: Count


class ProbeStatus(Answer):
    """What a health probe found."""

    status: Literal["up", "ready"]
    checks: dict[str, str] = Field(
        default_factory=dict,
        description="Per dependency checked (`database`, `broker`): what was found.",
    )
