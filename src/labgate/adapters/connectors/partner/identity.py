"""A partner system as labgate knows it: its source name, signing key and sequence counters that
survive a restart; and labgate's own public key, to check what labgate sends it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labgate.adapters.codecs.filepack import DataFile, build_pack, csv_bytes, read_members
from labgate.adapters.connectors.partner.outgoing import DATA_FILE, Outgoing
from labgate.compliance.envelope import build_envelope, generate_keypair
from labgate.compliance.keys import SourceKey
from labgate.compliance.signer import PUBLIC_MEMBERS, Signer
from labgate.service.packs import MANIFEST

LABGATE_SOURCE = "labgate"  # the relay's envelopes name this source
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now() -> datetime:
    """The partner's clock: the machine's, in UTC."""
    return datetime.now(UTC)


def utc_text(moment: datetime) -> str:
    """An ISO-8601 UTC time with a Z, as labgate writes them."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def public_path(private: Path) -> Path:
    """Where the public half of a key file lives (`labgate keys generate` naming)."""
    name = private.name
    if name.endswith(".private.jwk.json"):
        return private.with_name(name.replace(".private.jwk.json", ".public.jwk.json"))
    return private.with_name(name + ".public.json")


def load_or_create_key(path: Path, kid: str) -> tuple[Signer, bool]:
    """The private JWK at `path`; a new pair is written there (0600, never over a file) and its
    public half beside it when there is none. True when it was created: register it first."""
    if path.exists():
        return Signer.from_file(path), False
    private, public = generate_keypair()
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, jwk, mode in ((path, private, 0o600), (public_path(path), public, 0o644)):
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({**jwk, "kid": kid}, file, indent=2)
    return Signer(kid, private), True


def labgate_key(path: Path) -> SourceKey:
    """labgate's public key, as `labgate relay public-key` prints it, to verify its messages."""
    try:
        jwk = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"Cannot read labgate's public key {path}: {error}.") from None
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
        raise ValueError(f"labgate's public key {path} must be a JWK object with a 'kid'.")
    public = {name: jwk[name] for name in PUBLIC_MEMBERS if name in jwk}
    return SourceKey(LABGATE_SOURCE, jwk["kid"], public, _EPOCH, "partner", _EPOCH)


@dataclass
class Sequences:
    """The last sequence number per stream; kept in a file so that a restarted partner goes on
    where it stopped (labgate refuses a number it has handled: sequence.stale)."""

    path: Path | None = None
    last: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.path is not None and self.path.exists():
            self.last = {str(k): int(v) for k, v in json.loads(self.path.read_text()).items()}

    def next(self, stream: str) -> int:
        """The next number on `stream`, saved before it is used."""
        self.last[stream] = self.last.get(stream, 0) + 1
        if self.path is not None:
            temp = self.path.with_name(self.path.name + ".part")
            temp.write_text(json.dumps(self.last))
            temp.replace(self.path)
        return self.last[stream]


@dataclass
class Identity:
    """A partner system as labgate knows it: source name, signing key, sequence counters."""

    source: str
    signer: Signer
    sequences: Sequences

    def envelope(
        self, schema: str, site: str, stream: str, payload: dict[str, Any], **extra: Any
    ) -> Outgoing:
        """A signed envelope, next in its stream."""
        document = build_envelope(
            schema,
            site,
            self.source,
            stream,
            self.sequences.next(stream),
            payload,
            kid=self.signer.kid,
            private_jwk=self.signer.private_jwk,
            sent_at=now(),
            **extra,
        )
        return Outgoing(document)

    def pack(self, site: str, stream: str, rows: list[dict[str, Any]], **extra: Any) -> Outgoing:
        """A signed file pack of result rows, next in its stream."""
        _, tar = build_pack(
            [DataFile(DATA_FILE, csv_bytes(rows), len(rows))],
            site=site,
            source=self.source,
            stream=stream,
            sequence=self.sequences.next(stream),
            kid=self.signer.kid,
            private_jwk=self.signer.private_jwk,
            sent_at=now(),
            **extra,
        )
        manifest = json.loads(read_members(tar)[MANIFEST])
        return Outgoing(manifest, rows=tuple(rows))
