"""B2MML V0701 documents inside signed envelopes (`labgate.b2mml.v1`): an MES that speaks B2MML
sends its ProcessOperationsSchedule (a sample request) or a LIMS its ProcessTestResult as the
envelope's payload, so the Ed25519 signature covers the document's text and the inbox's checks
(key, replay window, dedupe, sequence) hold as for any message. The document maps to labgate's
own payloads, which then pass the same schema rules as if they had been sent as JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, StrictStr, ValidationError

from labgate.compliance.envelope import Envelope
from labgate.domain.commands import Command, Context, RecordResults
from labgate.domain.errors import InvalidInput
from labgate.service.messages import Inbound, Payload, ResultV1, parse_payload

B2MML_SCHEMA = "labgate.b2mml.v1"
# Maps a document's bytes to (schema id, payload) items; the B2MML codec provides it.
DocumentReader = Callable[[bytes], list[tuple[str, dict[str, Any]]]]


class B2mmlDocumentV1(Payload):
    """A B2MML V0701 document, as text; what it maps to follows labgate's payload schemas."""

    document: StrictStr = Field(min_length=1, max_length=4_000_000)


@dataclass
class B2mmlMessage:
    """An envelope carrying a B2MML document: one sample request, or any number of results."""

    envelope: Envelope
    read: DocumentReader
    _models: list[BaseModel] | None = field(default=None, repr=False)

    def check(self) -> None:
        """The wrapper's schema, the document's (MESA XSDs), then each mapped payload's."""
        self.models()

    def models(self) -> list[BaseModel]:
        """The document's payloads, checked; read once."""
        if self._models is None:
            self._models = self._read()
        return self._models

    def command(self, ctx: Context) -> Command:
        """All results in one transaction, or the one request's command."""
        models, site = self.models(), self.envelope.site
        results = [m for m in models if isinstance(m, ResultV1)]
        if len(results) == len(models):
            return RecordResults(ctx, tuple(r.to_command(ctx, site) for r in results))
        only = models[0]
        assert isinstance(only, Inbound)  # parse_payload only yields inbound models
        return only.to_command(ctx, site)

    def _read(self) -> list[BaseModel]:
        try:
            wrapper = B2mmlDocumentV1.model_validate(self.envelope.payload)
        except ValidationError as error:
            first = error.errors()[0]
            path = ".".join(["payload", *(str(p)[:64] for p in first["loc"])])
            raise InvalidInput(
                f"The {B2MML_SCHEMA} payload is refused at {path}: {first['msg']}.",
                reason="envelope.schema_violation",
                field=path,
            ) from None
        items = self.read(wrapper.document.encode("utf-8"))
        models = [parse_payload(schema, payload) for schema, payload in items]
        if not models:
            raise InvalidInput(
                "The B2MML document holds nothing labgate maps to a sample request or a result.",
                reason="b2mml.unmappable",
                field="payload.document",
            )
        if len(models) > 1 and not all(isinstance(m, ResultV1) for m in models):
            raise InvalidInput(
                f"The B2MML document maps to {len(models)} messages; send one sample request per "
                "envelope (each has its own sequence number), or only results.",
                reason="b2mml.one_request_per_message",
                field="payload.document",
            )
        return models
