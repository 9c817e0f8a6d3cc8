"""`labgate sim lims`: an external LIMS over the real channels.

It takes labgate's sample requests at its webhook (signature checked with labgate's public key),
registers each sample, and after a turnaround reports one result per requested test, reviewed in
the LIMS (approved, with reviewer and time) or preliminary. Values lie around the middle of the
limit labgate bound to the sample, or plainly outside it at the out-of-specification rate; each
draw is seeded by the run's seed, the MES request id and the test code, so a run repeats whatever
order the requests arrive in. A plant keeps its LIMS specifications in step with labgate's; the
simulator reads the bound limits from labgate's sample view rather than keep a second copy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from labgate.adapters.connectors.partner.channels import Labgate
from labgate.adapters.connectors.partner.dispatch import Dispatcher
from labgate.adapters.connectors.partner.identity import Identity, now, utc_text
from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.outgoing import Outgoing
from labgate.compliance.envelope import Envelope
from labgate.domain.limits import LimitKind, parse_limit
from labgate_sim.faults import FaultPlan

log = logging.getLogger("labgate_sim.lims")

SAMPLE_REQUEST = "labgate.lims_sample_request.v1"
CANCELLED = "labgate.sample_cancelled.v1"
REGISTRATION = "labgate.sample_registration.v1"
RESULT = "labgate.result.v1"


def draw_value(expression: str, oos: bool, rng: random.Random, sig_figs: int | None = None) -> str:
    """A plausible reported value: well inside the limit, or plainly outside it, by more than
    the method's rounding (to the limit's places, or to `sig_figs` significant figures) hides."""
    limit = parse_limit(expression)
    if limit.kind is LimitKind.CONFORMS_TEXT:
        return "Does not conform" if oos else (limit.text or "Conforms")
    written = Decimal(1).scaleb(-(limit.places or 0))
    low, high = limit.low, limit.high
    bound = max(abs(b) for b in (low, high) if b is not None)
    step = max(written, Decimal(1).scaleb(bound.adjusted() - sig_figs + 1)) if sig_figs else written

    def share(a: float, b: float) -> Decimal:
        return Decimal(str(round(rng.uniform(a, b), 6)))

    if low is not None and high is not None and low != high:
        half = (high - low) / 2
        if oos:
            beyond = 3 * step + half * share(0, 0.2)
            value = low - beyond if rng.random() < 0.5 else high + beyond
        else:
            value = low + half + half * share(-0.6, 0.6)
    elif low is not None and high is not None:  # "= x"
        value = low + 3 * step if oos else low
    elif low is not None:  # NLT
        scale = max(abs(low) / 10, 10 * step)
        value = (
            low - 3 * step - scale * share(0, 0.5)
            if oos
            else low + 3 * step + scale * share(0.2, 1)
        )
    else:  # NMT
        assert high is not None
        spread = high * share(0.1, 0.7) if high > 0 else high - 3 * step
        value = high + 3 * step + abs(high) * share(0, 0.5) if oos else min(spread, high - step)
    return str(value.quantize(written, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class LimsSettings:
    """How the simulated LIMS behaves."""

    stream: str = "lims-sim"  # results (and registrations, unless they go another way)
    registration_stream: str = "lims-sim"
    packs: bool = False  # results in file packs, one per sample
    turnaround: float = 20.0  # seconds from registration to results, before --speed
    speed: float = 1.0
    oos_rate: float = 0.05
    review: str = "approved"  # or "preliminary": labgate's reviewers approve
    analyst: str = "lims-analyst"
    reviewer: str = "lims-reviewer"
    seed: int = 0


@dataclass
class LimsSim:
    """The LIMS: requests in at the webhook, registrations and results out."""

    settings: LimsSettings
    identity: Identity
    api: Labgate
    registrations: Dispatcher
    results: Dispatcher
    plan: FaultPlan
    journal: Journal
    cancelled: set[str] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    failures: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.settings.seed)

    async def handle(self, envelope: Envelope, received_at: datetime) -> None:
        """A message from labgate: a sample to work on, or one to stop working on."""
        payload = envelope.payload
        self.journal.write(
            "received",
            message_id=envelope.message_id,
            schema=envelope.schema,
            sequence=envelope.sequence,
            received_at=utc_text(received_at),
            payload=payload,
        )
        if envelope.schema == CANCELLED:
            self.cancelled.add(payload["sample_id"])
        elif envelope.schema == SAMPLE_REQUEST:
            task = asyncio.create_task(self._work(envelope))
            self.tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures += 1
            log.error("work on a sample failed", exc_info=task.exception())

    async def _work(self, request: Envelope) -> None:
        site, payload, settings = request.site, request.payload, self.settings
        trace = {"correlation_id": request.correlation_id}
        view = await self.api.sample(site, payload["sample_id"])
        bound = {t["test_code"]: t for t in view["tests"]}
        registration = {"sample": view["code"], "lims_sample_id": f"LIMS-{view['code']}"}
        stream = settings.registration_stream
        registered = self.identity.envelope(REGISTRATION, site, stream, registration, **trace)
        self._send(self.registrations, [registered])
        await asyncio.sleep(settings.turnaround / settings.speed * self._rng.uniform(0.5, 1.5))
        if view["code"] in self.cancelled:
            self.journal.write("skipped", sample=view["code"], why="cancelled")
            return
        records = [self._result(payload, t, bound[t["test_code"]]) for t in payload["tests"]]
        if settings.packs:
            items = [self.identity.pack(site, settings.stream, records, **trace)]
        else:
            items = [
                self.identity.envelope(RESULT, site, settings.stream, r, **trace) for r in records
            ]
        self._send(self.results, items)

    def _result(
        self, request: dict[str, Any], test: dict[str, Any], planned: dict[str, Any]
    ) -> dict[str, Any]:
        settings, sample, code = self.settings, request["sample_id"], test["test_code"]
        rng = random.Random(f"{settings.seed}:{request['mes_request_id'] or sample}:{code}")
        oos = rng.random() < settings.oos_rate
        limit, unit = planned["limit"], planned["unit"]
        value = draw_value(limit, oos, rng, planned.get("sig_figs"))
        record: dict[str, Any] = {
            "sample": sample,
            "test_code": code,
            "value": value,
            "unit": unit,
            "method_version": test["method_version"],
            "analyst": settings.analyst,
            "lims_status": settings.review,
        }
        if settings.review == "approved":
            record |= {"reviewer": settings.reviewer, "approved_at": utc_text(now())}
        self.journal.write(
            "result",
            mes_request_id=request["mes_request_id"],
            oos=oos,
            limit=limit,
            **record,
        )
        return record

    def _send(self, dispatcher: Dispatcher, items: list[Outgoing]) -> None:
        dispatcher.submit(
            self.plan.apply(items, self.identity.signer, self.identity.sequences.next)
        )

    def summary(self) -> dict[str, Any]:
        """What the run did, for the operator and the tests."""
        dispatchers = {id(d): d for d in (self.registrations, self.results)}.values()
        sent = [pair for d in dispatchers for pair in d.sent]
        outcomes: dict[str, int] = {}
        for _, outcome in sent:
            outcomes[outcome.status] = outcomes.get(outcome.status, 0) + 1
        return {
            "sent": len(sent),
            "outcomes": outcomes,
            "waiting": sum(d.pending for d in dispatchers),
            "in_work": len(self.tasks),
            "failures": self.failures,
        }
