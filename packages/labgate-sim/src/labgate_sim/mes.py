"""`labgate sim mes`: an MES over the real channels.

It asks for samples from one step (product, batch, sampling point) at a steady rate, takes what
labgate tells the MES at its webhook (signature checked, each message id handled once), keeps a
journal of it, and measures how long an approved result took to arrive: from the reviewer's
approval (approved_at) to receipt, the figure a plant waits on before a step may go on.

It speaks JSON envelopes, or B2MML V0701 (`--format b2mml`, as labgate's LABGATE_MES_FORMAT):
its requests then go as ProcessOperationsSchedule documents in `labgate.b2mml.v1` envelopes, and
labgate's documents are verified, validated and read back into the payloads the JSON form
carries (b2mml_side), so that the journal reads the same either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from uuid6 import uuid7

from labgate.adapters.connectors.partner.dispatch import Dispatcher
from labgate.adapters.connectors.partner.identity import Identity, now, utc_text
from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.outgoing import Outgoing
from labgate.adapters.connectors.partner.receiving import ReceiverRules
from labgate.adapters.connectors.partner.webhook import Received, Webhook
from labgate.compliance.envelope import Envelope
from labgate.compliance.keys import SourceKey
from labgate_sim import b2mml_side
from labgate_sim.faults import FaultPlan

SAMPLE_REQUEST = "labgate.sample_request.v1"
MES_RESULT = "labgate.mes_result.v1"


@dataclass(frozen=True)
class MesSettings:
    """What the simulated MES asks for, how many times and how fast."""

    site: str
    product: str
    batch: str | None = None
    sampling_point: str | None = None
    count: int = 1
    rate: float = 1.0  # requests per second
    prefix: str = "SIM"  # MES request ids are PREFIX-0001, PREFIX-0002, ...
    stream: str = "mes-sim"
    message_format: str = "json"  # json | b2mml: how requests are written, answers read


def latency_stats(values: list[float]) -> dict[str, float | int]:
    """Count, min, median, 95th percentile, max and mean, in seconds."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "count": len(ordered),
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


@dataclass
class MesSim:
    """The MES: sample requests out, labgate's answers in."""

    settings: MesSettings
    identity: Identity
    dispatcher: Dispatcher
    plan: FaultPlan
    journal: Journal
    requested: set[str] = field(default_factory=set)  # this run's MES request ids
    received: Counter[str] = field(default_factory=Counter)
    bodies: Counter[str] = field(default_factory=Counter)  # by content type
    latencies: list[float] = field(default_factory=list)

    def request_id(self, number: int) -> str:
        """The MES request id of the `number`-th request."""
        return f"{self.settings.prefix}-{number:04d}"

    async def request_all(self, stop: asyncio.Event) -> None:
        """Send `count` sample requests, `rate` a second, unless stopped first."""
        settings = self.settings
        for number in range(1, settings.count + 1):
            if stop.is_set():
                return
            request_id = self.request_id(number)
            item = self.sample_request(request_id)
            self.journal.write("requested", mes_request_id=request_id, message_id=item.message_id,
                               schema=item.schema, format=settings.message_format)  # fmt: skip
            self.dispatcher.submit(
                self.plan.apply([item], self.identity.signer, self.identity.sequences.next)
            )
            self.requested.add(request_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / settings.rate)

    def sample_request(self, request_id: str) -> Outgoing:
        """The signed request for one sample, in the MES's format."""
        settings = self.settings
        payload: dict[str, Any] = {
            "mes_request_id": request_id,
            "product": settings.product,
            "sampled_at": utc_text(now()),
            "batch": settings.batch,
            "sampling_point": settings.sampling_point,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        schema, message_id = SAMPLE_REQUEST, str(uuid7())
        if settings.message_format == "b2mml":  # the envelope's message id is the BODID
            document = b2mml_side.schedule(payload, site=settings.site, message_id=message_id,
                                           sender=self.identity.source, sent_at=now())  # fmt: skip
            schema, payload = b2mml_side.B2MML, {"document": document}
        return self.identity.envelope(schema, settings.site, settings.stream, payload,
                                      correlation_id=request_id, message_id=message_id)  # fmt: skip

    async def handle(self, envelope: Envelope, received_at: datetime) -> None:
        """A JSON envelope from labgate, its signature verified."""
        header = (envelope.schema, envelope.message_id, envelope.stream, envelope.sequence)
        await self.take(Received(*header, envelope.correlation_id, envelope.payload), received_at)

    def read_document(
        self,
        body: bytes,
        headers: Mapping[str, str],
        key: SourceKey,
        rules: ReceiverRules | None,
        received_at: datetime,
    ) -> Received:
        """A B2MML document from labgate: signature, XSD, its time, then its payload."""
        return b2mml_side.read_document(body, headers, key, rules, received_at)

    async def take(self, message: Received, received_at: datetime) -> None:
        """A message from labgate to the MES, in either form: kept, and timed if it is an
        approved result of one of this run's requests (older ones would time the queue, not
        labgate)."""
        payload = message.payload
        latency = None
        ours = payload.get("mes_request_id") in self.requested
        if message.schema == MES_RESULT and ours and payload.get("approved_at"):
            approved = datetime.fromisoformat(payload["approved_at"])
            latency = (received_at - approved).total_seconds()
            self.latencies.append(latency)
        self.received[message.schema] += 1
        self.bodies[message.content_type] += 1
        self.journal.write(
            "received",
            message_id=message.message_id,
            schema=message.schema,
            sequence=message.sequence,
            correlation_id=message.correlation_id,
            received_at=utc_text(received_at),
            latency_s=latency,
            content_type=message.content_type,
            document=message.document,
            verified=message.verified,
            validated=message.validated,
            payload=payload,
        )

    def summary(self, webhook: Webhook) -> dict[str, Any]:
        """What the run did, for the operator, the tests and the benchmarks."""
        outcomes = Counter(outcome.status for _, outcome in self.dispatcher.sent)
        return {
            "requested": len(self.requested),
            "sent": len(self.dispatcher.sent),
            "outcomes": dict(outcomes),
            "waiting": self.dispatcher.pending,
            "received": dict(self.received),
            "bodies": dict(self.bodies),
            "duplicates": webhook.counts["duplicate"],
            "refused": webhook.counts["refused"],
            "latency_s": latency_stats(self.latencies),
        }
