"""Commands of the interfaces ring: the public keys source systems sign their envelopes with,
and the identity map that says which labgate account a partner's person id is."""

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


@dataclass(frozen=True)
class MapIdentity(Command):
    """Say which labgate account `source` means by `external_id` (replaces an earlier mapping)."""

    source: str
    external_id: str
    account: str
    reason: str


@dataclass(frozen=True)
class UnmapIdentity(Command):
    """Withdraw a mapping: results naming that id are refused until it is mapped again."""

    source: str
    external_id: str
    reason: str
