"""What both simulators share: a signing identity, sequence counters that survive a restart, a
JSON-lines journal the tests read, and the webhook that takes labgate's signed messages (JSON
envelopes, and for a receiver that speaks B2MML, signed documents)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from labgate.adapters.codecs.filepack import DataFile, build_pack, csv_bytes, read_members
from labgate.compliance.envelope import (
    Envelope,
    EnvelopeError,
    build_envelope,
    generate_keypair,
    parse_envelope,
    verify_envelope,
)
from labgate.compliance.keys import SourceKey
from labgate.compliance.signer import PUBLIC_MEMBERS, Signer
from labgate.service.packs import MANIFEST
from labgate.sim.outgoing import DATA_FILE, Outgoing

LABGATE_SOURCE = "labgate"  # the relay's envelopes name this source
JSON, XML = "application/json", "application/xml"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now() -> datetime:
    """The simulator's clock: the machine's, in UTC."""
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
    return SourceKey(LABGATE_SOURCE, jwk["kid"], public, _EPOCH, "simulator", _EPOCH)


@dataclass
class Sequences:
    """The last sequence number per stream; kept in a file so that a restarted simulator goes on
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


class Journal:
    """One JSON object per line, flushed at once: what a simulator sent and received."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8") if path is not None else None

    def write(self, event: str, **fields: Any) -> None:
        """Append one line: the event, when, and its fields."""
        if self._file is not None:
            line = {"event": event, "at": utc_text(now()), **fields}
            self._file.write(json.dumps(line, default=str) + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()


Handler = Callable[[Envelope, datetime], Awaitable[None]]
UNAUTHENTIC = frozenset({"envelope.bad_signature", "envelope.unknown_key"})


@dataclass(frozen=True)
class Received:
    """A message from labgate as a receiver took it, in either form: the envelope's header (or
    the headers beside a document), its payload, and the checks it passed."""

    schema: str
    message_id: str
    stream: str | None
    sequence: int | None
    correlation_id: str | None
    payload: dict[str, Any]
    content_type: str = JSON
    document: str | None = None  # a document's root element; None for an envelope
    verified: str = "envelope"  # where the signature that checked out was
    validated: str | None = None  # the schema a document validated against


class Documents(Protocol):
    """A receiver that also takes signed documents (application/xml): `read_document` checks
    one and reads the message it stands for (EnvelopeError if it is not labgate's or not
    valid); `take` handles it."""

    def read_document(
        self, body: bytes, headers: Mapping[str, str], key: SourceKey
    ) -> Received: ...
    async def take(self, message: Received, received_at: datetime) -> None: ...


@dataclass
class Webhook:
    """Takes labgate's envelopes (and, with `documents`, its signed XML documents): verified with
    its public key, each message id handled once (the relay delivers at least once and says so
    in Idempotency-Key). A document whose signature fails is refused with 401."""

    key: SourceKey
    handle: Handler
    journal: Journal
    documents: Documents | None = None
    seen: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)

    async def receive(self, request: Request) -> JSONResponse:
        """One POST from the relay."""
        received_at, raw = now(), await request.body()
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        documents = self.documents if media == XML else None
        try:
            message = self._read(raw, request.headers, documents)
        except EnvelopeError as error:
            self.counts["refused"] += 1
            self.journal.write("refused", reason=error.reason, detail=error.message, media=media)
            status = 401 if documents and error.reason in UNAUTHENTIC else 400
            return JSONResponse({"reason": error.reason, "detail": error.message}, status)
        key = request.headers.get("idempotency-key", message.message_id)
        if key in self.seen or message.message_id in self.seen:
            self.counts["duplicate"] += 1
            self.journal.write("duplicate", message_id=message.message_id, schema=message.schema)
            return JSONResponse({"status": "duplicate"})
        self.seen.add(message.message_id)
        try:
            if isinstance(message, Envelope):
                await self.handle(message, received_at)
            elif documents is not None:
                await documents.take(message, received_at)
        except Exception:
            self.seen.discard(message.message_id)  # not taken: the relay tries again
            raise
        self.counts["received"] += 1
        return JSONResponse({"status": "taken"})

    def _read(
        self, raw: bytes, headers: Mapping[str, str], documents: Documents | None
    ) -> Envelope | Received:
        if documents is not None:
            return documents.read_document(raw, headers, self.key)
        envelope = parse_envelope(raw)
        verify_envelope(envelope, self.key)
        return envelope

    def app(self) -> Starlette:
        """The ASGI application: any path, POST only."""
        return Starlette(routes=[Route("/{path:path}", self.receive, methods=["POST"])])
