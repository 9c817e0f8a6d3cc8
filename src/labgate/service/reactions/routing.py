"""The one routing table: what each domain event sets off, in the transaction that raised it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from labgate.domain import events
from labgate.domain.commands import Context
from labgate.domain.events import Event
from labgate.service.deps import Deps
from labgate.service.reactions.em import open_em_deviation
from labgate.service.reactions.gates import decide_gates, watch_gate
from labgate.service.reactions.oos import lift_hold, open_deviation
from labgate.service.reactions.oot import check_trend, withdraw_alert
from labgate.service.reactions.outbox_rows import (
    tell_batch_disposition,
    tell_lims,
    tell_lot_status,
    tell_mes,
)
from labgate.service.reactions.scope import Scope
from labgate.service.unit_of_work import UnitOfWork

log = logging.getLogger("labgate.bus")

Reaction = Callable[[Any, UnitOfWork, Scope], None]

# A change raises a handful of events and its reactions a few more; far more than this from one
# message means a handler keeps raising what it handles.
MOST_EVENTS_PER_MESSAGE = 100_000


def log_event(event: Event, uow: UnitOfWork, scope: Scope) -> None:
    """Every event handled, in the log, for operators and trace correlation (logged as it is
    handled: a change that then fails leaves its line, and no effect)."""
    log.info("%s %s correlation_id=%s", type(event).__name__, event, scope.ctx.correlation_id)


# In each list the order is the order of effects (outbox rows, audit entries) a reader sees.
EVENT_HANDLERS: dict[type[Event], list[Reaction]] = {
    events.SampleRequested: [tell_lims, watch_gate, log_event],
    events.SampleRegistered: [tell_mes, log_event],
    events.SampleCancelled: [tell_mes, tell_lims, watch_gate, log_event],
    events.ResultRecorded: [tell_mes, log_event],
    events.ResultApproved: [tell_mes, open_deviation, check_trend, watch_gate, log_event],
    events.ResultInvalidated: [tell_mes, withdraw_alert, watch_gate, log_event],
    events.BatchHeld: [tell_mes, watch_gate, log_event],
    events.BatchHoldLifted: [tell_mes, watch_gate, log_event],
    events.DeviationEnded: [lift_hold, log_event],
    events.EmExcursionRecorded: [open_em_deviation, log_event],
    events.BatchDisposed: [tell_batch_disposition, log_event],
    events.LotDecided: [tell_lot_status, log_event],
}


class ReactionLoop(RuntimeError):
    """The reactions to one message kept raising events: a handler raises what it handles (a
    fault of the code, not a refusal of the message)."""


class Reactor:
    """One transaction's reactions: each event to its handlers, in the name of the message whose
    change raised it; what is decided once per transaction (the IPC gates) at its end."""

    def __init__(
        self,
        deps: Deps,
        ctx: Context,
        table: Mapping[type[Event], list[Reaction]] = EVENT_HANDLERS,
    ) -> None:
        self.deps, self.ctx, self.table = deps, ctx, table
        self.scope = Scope(ctx, deps)

    def react(self, uow: UnitOfWork, ctx: Context | None) -> None:
        """Handle every pending event and those its handlers raise, until none is left."""
        scope = self.scope if ctx is None else Scope(ctx, self.deps, self.scope.gates)
        for handled, event in enumerate(uow.collect_new_events(), start=1):
            if handled > MOST_EVENTS_PER_MESSAGE:
                raise ReactionLoop(
                    f"The reactions to one message raised more than {MOST_EVENTS_PER_MESSAGE} "
                    f"events (the last a {type(event).__name__}); a handler raises the event it "
                    "handles. Nothing was committed."
                )
            for handler in self.table.get(type(event), ()):
                handler(event, uow, scope)

    def conclude(self, uow: UnitOfWork) -> None:
        """Once every message of the transaction is settled: decide the gates it moved."""
        decide_gates(uow, self.scope)
