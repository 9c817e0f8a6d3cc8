"""What a reaction runs with, and the aggregates an event is about."""

from __future__ import annotations

from dataclasses import dataclass, field

from labgate.domain.commands import Context
from labgate.domain.events import SampleEvent
from labgate.domain.samples import Sample
from labgate.service.deps import Deps
from labgate.service.handlers.common import load_sample
from labgate.service.reactions.gate_push import GateWatch
from labgate.service.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Scope:
    """A reaction's setting: the message whose change raised the event (who acts, under which
    correlation id), the bus's dependencies, and the batches whose IPC gates the transaction
    may have moved (decided once, when it commits)."""

    ctx: Context
    deps: Deps
    gates: GateWatch = field(default_factory=GateWatch)


def sample_of(event: SampleEvent, uow: UnitOfWork) -> Sample:
    """The sample an event is about: the one the transaction changed (read only if untracked)."""
    found = uow.tracked(Sample, event.site, event.sample)
    return found if found is not None else load_sample(uow, event.site, event.sample)
