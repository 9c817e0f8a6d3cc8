"""Commands of the interfaces ring: the public keys source systems sign their envelopes with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labgate.domain.commands import Command


@dataclass(frozen=True)
class RegisterSourceKey(Command):
    """Register a source system's Ed25519 public key (JWK) under a key id, with its validity."""

    source: str
    kid: str
    public_jwk: dict[str, Any]
    valid_from: datetime
    valid_until: datetime | None
    reason: str


@dataclass(frozen=True)
class RevokeSourceKey(Command):
    """Revoke a source system's key: it never verifies an envelope again."""

    source: str
    kid: str
    reason: str
