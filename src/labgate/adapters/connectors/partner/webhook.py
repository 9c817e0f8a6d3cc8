"""The webhook a partner system takes labgate's signed messages on (JSON envelopes and, for a
receiver that speaks B2MML, signed documents): verified with labgate's public key, each message
id handled once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from labgate.adapters.connectors.partner.identity import now
from labgate.adapters.connectors.partner.journal import Journal
from labgate.compliance.envelope import Envelope, EnvelopeError, parse_envelope, verify_envelope
from labgate.compliance.keys import SourceKey

JSON, XML = "application/json", "application/xml"
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
