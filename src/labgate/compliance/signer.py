"""labgate's own signing key: every envelope it sends is signed with it, so receivers can check
that a message really comes from labgate and was not changed on the way."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labgate.compliance.envelope import KID_PATTERN, generate_keypair

PUBLIC_MEMBERS = ("kty", "crv", "x")


@dataclass(frozen=True)
class Signer:
    """A key id and the private Ed25519 JWK that signs labgate's outgoing envelopes."""

    kid: str
    private_jwk: dict[str, Any] = field(repr=False)

    def __post_init__(self) -> None:
        if not KID_PATTERN.fullmatch(self.kid):
            raise ValueError(
                f"Key id {self.kid!r} must be 1 to 64 letters, digits, '.', '_' or '-'."
            )
        jwk = self.private_jwk
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" not in jwk:
            raise ValueError(
                "labgate signs with an Ed25519 private JWK (kty OKP, crv Ed25519, with 'd'); "
                "make one with `labgate keys generate`."
            )

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public half, for receivers to verify with."""
        return {name: self.private_jwk[name] for name in PUBLIC_MEMBERS}

    @classmethod
    def generate(cls, kid: str) -> Signer:
        """A fresh key pair: for demo mode and tests only (receivers cannot know it ahead)."""
        private, _ = generate_keypair()
        return cls(kid, private)

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        """The private JWK `labgate keys generate` wrote (its "kid" member names the key)."""
        try:
            jwk = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"Cannot read the signing key {path}: {error}.") from None
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            raise ValueError(f"The signing key {path} must be a JWK object with a 'kid' member.")
        return cls(jwk["kid"], {k: v for k, v in jwk.items() if k != "kid"})
