"""The audit trail: append-only entries, each sealed with SHA-256 over its canonical form and
the previous entry's hash, so removing, reordering or editing any entry breaks the chain there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labgate.compliance.canonical import canonical_json, sha256_hex
from labgate.compliance.clock import iso_utc

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditDraft:
    """What a handler says happened; the trail gives it a sequence number and a seal."""

    actor: str
    actor_kind: str
    action: str
    record_type: str
    record_id: str
    at: datetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None
    payload_hash: str | None = None
    correlation_id: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """A sealed entry of the trail."""

    seq: int
    draft: AuditDraft
    prev_hash: str
    hash: str = field(default="")

    def canonical(self) -> bytes:
        """The bytes the seal covers: every field but the seal itself."""
        d = self.draft
        return canonical_json(
            {
                "seq": self.seq,
                "at": iso_utc(d.at),
                "site": d.site,
                "actor": d.actor,
                "actor_kind": d.actor_kind,
                "action": d.action,
                "record_type": d.record_type,
                "record_id": d.record_id,
                "before": d.before,
                "after": d.after,
                "reason": d.reason,
                "payload_hash": d.payload_hash,
                "correlation_id": d.correlation_id,
                "prev_hash": self.prev_hash,
            }
        )

    def expected_hash(self) -> str:
        """The seal this entry should carry."""
        return sha256_hex(self.canonical())


def seal(draft: AuditDraft, seq: int, prev_hash: str) -> AuditEntry:
    """Chain a draft after the entry whose hash is `prev_hash`."""
    unsealed = AuditEntry(seq, draft, prev_hash)
    return AuditEntry(seq, draft, prev_hash, unsealed.expected_hash())


@dataclass(frozen=True)
class ChainReport:
    """The outcome of verifying the trail."""

    checked: int
    first_broken: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every entry checked out."""
        return self.first_broken is None


def verify_chain(
    entries: Iterable[AuditEntry], after: int = 0, prev_hash: str = GENESIS_HASH
) -> ChainReport:
    """Walk the trail in sequence order from the entry after `after` (whose hash is
    `prev_hash`); stop at the first entry that does not check out."""
    expected_seq, checked = after + 1, 0
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainReport(checked, entry.seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev_hash:
            return ChainReport(checked, entry.seq, "its link to the previous entry is broken")
        if entry.hash != entry.expected_hash():
            return ChainReport(checked, entry.seq, "its content does not match its hash")
        prev_hash, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    return ChainReport(checked)
