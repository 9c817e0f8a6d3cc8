"""The audit trail: append-only entries, each sealed with SHA-256 over its canonical form and
the previous entry's hash, so removing, reordering or editing any entry breaks the chain there."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

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
            sealed_fields(
                self.seq, iso_utc(d.at), d.site, d.actor, d.actor_kind, d.action,
                d.record_type, d.record_id, d.before, d.after, d.reason, d.payload_hash,
                d.correlation_id, self.prev_hash,
            )
        )  # fmt: skip

    def expected_hash(self) -> str:
        """The seal this entry should carry."""
        return sha256_hex(self.canonical())


# What an entry's seal covers (sealed_fields), in the order stored rows are read to verify.
SEALED = ("seq", "at", "site", "actor", "actor_kind", "action", "record_type", "record_id",
          "before", "after", "reason", "payload_hash", "correlation_id", "prev_hash")  # fmt: skip


def sealed_fields(
    seq: int,
    at: str,
    site: str | None,
    actor: str,
    actor_kind: str,
    action: str,
    record_type: str,
    record_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None,
    payload_hash: str | None,
    correlation_id: str | None,
    prev_hash: str,
) -> dict[str, Any]:
    """What an entry's seal covers, `at` in its UTC ISO form."""
    return {"seq": seq, "at": at, "site": site, "actor": actor, "actor_kind": actor_kind,
            "action": action, "record_type": record_type, "record_id": record_id,
            "before": before, "after": after, "reason": reason, "payload_hash": payload_hash,
            "correlation_id": correlation_id, "prev_hash": prev_hash}  # fmt: skip


class Sealed(Protocol):
    """What the chain check needs of an entry: its place, its link, its seal, and the seal its
    content calls for."""

    @property
    def seq(self) -> int: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...
    def expected_hash(self) -> str: ...


class StoredSeal(NamedTuple):
    """A stored entry reduced to what the chain check needs: the bytes its seal covers."""

    seq: int
    prev_hash: str
    hash: str
    payload: bytes

    def expected_hash(self) -> str:
        """The seal these bytes call for."""
        return hashlib.sha256(self.payload).hexdigest()


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
    entries: Iterable[Sealed], after: int = 0, prev_hash: str = GENESIS_HASH
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
