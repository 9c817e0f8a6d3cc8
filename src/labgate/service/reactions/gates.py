"""IPC gates: the events that may move an operation's gate are noted as they are handled; the
gates are decided, and the MES told of a change, once, when the transaction commits
(`service/reactions/gate_push.py` says how)."""

from __future__ import annotations

from labgate.domain.events import SampleEvent
from labgate.service.reactions.gate_push import tell_gate_changes
from labgate.service.reactions.scope import Scope, sample_of
from labgate.service.unit_of_work import UnitOfWork


def watch_gate(event: SampleEvent, uow: UnitOfWork, scope: Scope) -> None:
    """Note the sample's batch if the event may move its operation's gate."""
    scope.gates.saw(sample_of(event, uow), event, scope.ctx.correlation_id)


def decide_gates(uow: UnitOfWork, scope: Scope) -> None:
    """Decide the noted batches' gates again and tell the MES what changed (at commit)."""
    tell_gate_changes(uow, scope.gates, uow._now())
