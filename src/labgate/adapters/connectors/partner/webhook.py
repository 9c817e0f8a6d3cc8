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
from labgate.adapters.connectors.partner.receiving import Ordering, ReceiverRules, Sequenced
from labgate.compliance.envelope import Envelope, EnvelopeError, parse_envelope, verify_envelope
from labgate.compliance.keys import SourceKey

JSON, XML = "application/json", "application/xml"
Handler = Callable[[Envelope, datetime], Awaitable[None]]
UNAUTHENTIC = frozenset({"envelope.bad_signature", "envelope.unknown_key"})
# Refused as labgate's own inbox refuses them (422).
RULE_REFUSALS = frozenset(
    {"envelope.replay_window", "envelope.schema_violation", "envelope.unknown_schema"}
)
EVIDENCE_PATH = "_conformance/applied"


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
    valid, or breaks the receiver's `rules`: its time, its schema); `take` handles it."""

    def read_document(
        self,
        body: bytes,
        headers: Mapping[str, str],
        key: SourceKey,
        rules: ReceiverRules | None,
        received_at: datetime,
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
    rules: ReceiverRules | None = None  # None: signature and message id only
    seen: set[str] = field(default_factory=set)
    ordering: Ordering = field(default_factory=Ordering)
    counts: Counter[str] = field(default_factory=Counter)

    async def receive(self, request: Request) -> JSONResponse:
        """One POST from the relay."""
        received_at, raw = now(), await request.body()
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        documents = self.documents if media == XML else None
        try:
            message = self._read(raw, request.headers, documents, received_at)
        except EnvelopeError as error:
            self.counts["refused"] += 1
            self.journal.write("refused", reason=error.reason, detail=error.message, media=media)
            status = 401 if documents and error.reason in UNAUTHENTIC else 400
            status = 422 if error.reason in RULE_REFUSALS else status
            return JSONResponse({"reason": error.reason, "field": error.field,
                                 "detail": error.message}, status)  # fmt: skip
        key = request.headers.get("idempotency-key", message.message_id)
        duplicate = key in self.seen or message.message_id in self.seen
        if duplicate and not self._lapse("apply-duplicates"):
            self.counts["duplicate"] += 1
            self.journal.write("duplicate", message_id=message.message_id, schema=message.schema)
            return JSONResponse({"status": "duplicate"})
        ready: list[tuple[Sequenced, datetime]] = [(message, received_at)]
        numbered = message.stream is not None and message.sequence is not None
        if numbered and self._in_order():  # an envelope, or a document with sequence headers
            if self.ordering.is_held(message):
                return JSONResponse({"status": "held"}, 202)
            ready = list(self.ordering.admit(message, received_at))
            if not ready:  # ahead of a gap: kept, applied once the missing ones came
                self.counts["held"] += 1
                self.journal.write("held", message_id=message.message_id,
                                   stream=message.stream, sequence=message.sequence)  # fmt: skip
                return JSONResponse({"status": "held"}, 202)
        for item, at in ready:
            await self._apply(item, at, documents)
        return JSONResponse({"status": "taken"})

    async def _apply(
        self, message: Sequenced, received_at: datetime, documents: Documents | None
    ) -> None:
        self.seen.add(message.message_id)
        documents = documents or self.documents
        try:
            if isinstance(message, Envelope):
                await self.handle(message, received_at)
            elif isinstance(message, Received) and documents is not None:
                await documents.take(message, received_at)
        except Exception:
            self.seen.discard(message.message_id)  # not taken: the relay tries again
            raise
        if message.stream is not None:
            self.ordering.record(message)
        self.counts["received"] += 1

    def _lapse(self, name: str) -> bool:
        return self.rules is not None and name in self.rules.lapses

    def _in_order(self) -> bool:
        rules = self.rules
        return rules is not None and rules.in_order and "apply-out-of-order" not in rules.lapses

    def _read(
        self,
        raw: bytes,
        headers: Mapping[str, str],
        documents: Documents | None,
        received_at: datetime,
    ) -> Envelope | Received:
        if documents is not None:
            return documents.read_document(raw, headers, self.key, self.rules, received_at)
        envelope = parse_envelope(raw)
        try:
            verify_envelope(envelope, self.key)
        except EnvelopeError as error:
            if self.rules is None or not self.rules.forgives(error):
                raise
        if self.rules is not None:
            self.rules.check(envelope, received_at)
        return envelope

    async def applied(self, request: Request) -> JSONResponse:
        """GET …/_conformance/applied[?stream=S]: the envelopes applied, in the order they
        were, per stream — how a conformance run tells a duplicate or a held message was not
        applied (only a receiver with rules offers it)."""
        if self.rules is None or not request.url.path.endswith(EVIDENCE_PATH):
            return JSONResponse({"detail": "Not found."}, 404)
        wanted = request.query_params.get("stream")
        streams = {s: a for s, a in self.ordering.applied.items() if wanted in (None, s)}
        return JSONResponse({"applied": streams})

    def app(self) -> Starlette:
        """The ASGI application: any path, POST only."""
        return Starlette(
            routes=[
                Route("/{path:path}", self.receive, methods=["POST"]),
                Route("/{path:path}", self.applied, methods=["GET"]),
            ]
        )
