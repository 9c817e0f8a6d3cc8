"""Messages owed to the MES and the LIMS: the outbox row, and the seal its commit records (what
each event tells them is built in `service/reactions/messages.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labgate.compliance.audit import AuditDraft
from labgate.compliance.canonical import canonical_json, sha256_hex, to_jsonable
from labgate.domain.errors import LabgateError

MES, LIMS = "mes", "lims"


@dataclass(frozen=True)
class OutboxMessage:
    """One message owed to one system; delivered by a relay after commit."""

    site: str
    destination: str
    message_type: str
    schema: str
    message_id: str
    correlation_id: str | None
    record_id: str
    payload: dict[str, Any]
    created_at: datetime


SEALED = "outbox.sealed"  # the audit action that records a row's content hash at commit
SEALER = "labgate"


def content_hash(
    site: str,
    destination: str,
    schema: str,
    message_id: str,
    correlation_id: str | None,
    sequence: int | None,
    payload: dict[str, Any],
) -> str:
    """SHA-256 of what the relay puts in the envelope from an outbox row: the seal made at
    commit and checked again before the row is signed."""
    content = {"site": site, "destination": destination, "schema": schema,
               "message_id": message_id, "correlation_id": correlation_id,
               "sequence": sequence, "payload": to_jsonable(payload)}  # fmt: skip
    return sha256_hex(canonical_json(content))


def seal_entry(message: OutboxMessage, sequence: int) -> AuditDraft:
    """The audit entry that seals a new row: its content hash, chained into the trail in the
    transaction that made the row (so it cannot be changed without breaking the chain)."""
    m = message
    return AuditDraft(
        actor=SEALER,
        actor_kind="system",
        action=SEALED,
        record_type="outbox",
        record_id=m.message_id,
        at=m.created_at,
        after={
            "destination": m.destination,
            "message_type": m.message_type,
            "sequence": sequence,
        },
        payload_hash=content_hash(
            m.site, m.destination, m.schema, m.message_id, m.correlation_id, sequence, m.payload
        ),
        correlation_id=m.correlation_id,
        site=m.site,
    )


class SealBroken(LabgateError):
    """An outbox row whose content no longer matches the seal its commit recorded."""

    default_reason = "outbox.seal_broken"


def check_seal(message_id: str, seal: str | None, found: str) -> None:
    """Raise SealBroken unless `found`, the row's content hash now, is the seal its commit
    recorded."""
    if seal is None:
        raise SealBroken(
            f"Message {message_id} has no seal from its commit (no `outbox.sealed` audit entry "
            "of it), so its content cannot be vouched for: it is held, not sent.",
            reason="outbox.seal_missing",
            field="seal_seq",
        )
    if found != seal:
        raise SealBroken(
            f"The content of message {message_id} (payload, ids, sequence) no longer matches "
            "the seal recorded in the audit trail when it was committed: it was changed "
            "afterwards, so it is held, not sent.",
            field="payload",
        )
