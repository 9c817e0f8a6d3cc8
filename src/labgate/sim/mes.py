"""`labgate sim mes`: an MES over the real channels.

It asks for samples from one step (product, batch, sampling point) at a steady rate, takes what
labgate tells the MES at its webhook (signature checked, each message id handled once), keeps a
journal of it, and measures how long an approved result took to arrive: from the reviewer's
approval (approved_at) to receipt, the figure a plant waits on before a step may go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labgate.compliance.envelope import Envelope
from labgate.sim.common import Identity, Journal, Webhook, now, utc_text
from labgate.sim.dispatch import Dispatcher
from labgate.sim.faults import FaultPlan

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
            payload: dict[str, Any] = {
                "mes_request_id": request_id,
                "product": settings.product,
                "sampled_at": utc_text(now()),
                "batch": settings.batch,
                "sampling_point": settings.sampling_point,
            }
            payload = {k: v for k, v in payload.items() if v is not None}
            item = self.identity.envelope(
                SAMPLE_REQUEST, settings.site, settings.stream, payload, correlation_id=request_id
            )
            self.journal.write("requested", mes_request_id=request_id, message_id=item.message_id)
            self.dispatcher.submit(self.plan.apply([item], self.identity.signer))
            self.requested.add(request_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / settings.rate)

    async def handle(self, envelope: Envelope, received_at: datetime) -> None:
        """A message from labgate to the MES: kept, and timed if it is an approved result of one
        of this run's requests (older ones would time the queue, not labgate)."""
        payload = envelope.payload
        latency = None
        ours = payload.get("mes_request_id") in self.requested
        if envelope.schema == MES_RESULT and ours and payload.get("approved_at"):
            approved = datetime.fromisoformat(payload["approved_at"])
            latency = (received_at - approved).total_seconds()
            self.latencies.append(latency)
        self.received[envelope.schema] += 1
        self.journal.write(
            "received",
            message_id=envelope.message_id,
            schema=envelope.schema,
            sequence=envelope.sequence,
            correlation_id=envelope.correlation_id,
            received_at=utc_text(received_at),
            latency_s=latency,
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
            "duplicates": webhook.counts["duplicate"],
            "refused": webhook.counts["refused"],
            "latency_s": latency_stats(self.latencies),
        }
