"""The answers of the evidence: audit entries as people read them, timelines, the chain check."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from labgate.entrypoints.api.wire import Answer, Count, Hash, SiteTime, UtcTime

Seq = Field(ge=1, le=2**63 - 1, description="The entry's place in the hash chain.")


class AuditEntry(Answer):
    """One sealed audit entry, with its local time and the actor's printed name beside it."""

    seq: int = Seq
    at: UtcTime
    at_local: SiteTime = Field(
        description="`at` in the entry's site's time zone (UTC for an entry of no site)."
    )
    site: str | None
    actor: str = Field(description="The user id that acted (`anonymous` before sign-in).")
    actor_name: str | None = Field(description="The actor's printed name; null with no account.")
    actor_kind: Literal["person", "system", "unauthenticated"]
    action: str = Field(description="What was done, e.g. `result.approved`.")
    record_type: str
    record_id: str
    # The recorded change is whatever the record held before and after: its members are the
    # record's own, so they are open here and kept exactly as sealed (no names or local times
    # are added inside them: the hash covers them as they are).
    before: dict[str, Any] | None = Field(description="The record before, as sealed.")
    after: dict[str, Any] | None = Field(description="The record after, as sealed.")
    reason: str | None
    payload_hash: Hash | None = Field(description="SHA-256 of the request body that caused it.")
    correlation_id: str | None
    prev_hash: Hash
    hash: Hash


class Timeline(Answer):
    """A page of one sample's or batch's audit entries, in chain order."""

    items: list[AuditEntry]
    total: Count = Field(description="Entries in the whole timeline.")
    limit: int = Field(ge=1, le=1000)
    offset: Count


class TrailCheck(Answer):
    """The outcome of checking the trail: its chain, its head and its signed checkpoints."""

    ok: bool = Field(description="Chain, head and every checkpoint checked out.")
    checked: Count = Field(description="Entries whose hash and link were recomputed.")
    checkpoints: Count
    last_checkpoint: Count | None = Field(
        description="The entry the newest checkpoint vouches for."
    )
    after_checkpoint: Count = Field(description="Entries after the newest checkpoint.")
    keys_pinned: bool = Field(description="Checkpoints were checked against labgate's own key.")
    keys: list[str] = Field(description="`kid (thumbprint)` of each key that signed a checkpoint.")
    first_broken: Count | None = Field(description="The first entry at fault, if any.")
    problem: str | None = Field(description="What is wrong there, for a person.")
    reason: (
        Literal[
            "audit.chain_broken",
            "audit.checkpoint_forged",
            "audit.checkpoint_key_unknown",
            "audit.head_mismatch",
            "audit.resealed",
            "audit.tail_missing",
        ]
        | None
    ) = Field(description="The stable code of the problem; null when `ok`.")
