"""Source systems' public keys: several may be valid at once (rotation with overlap); a revoked
key never verifies again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class SourceKey:
    """An Ed25519 public key (JWK) a source system signs its envelopes with."""

    source: str
    kid: str
    public_jwk: dict[str, Any]
    valid_from: datetime
    registered_by: str
    registered_at: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def valid_at(self, moment: datetime) -> bool:
        """Whether an envelope sent at `moment` may be verified with this key."""
        if self.revoked_at is not None:
            return False
        if moment < self.valid_from:
            return False
        return self.valid_until is None or moment < self.valid_until
