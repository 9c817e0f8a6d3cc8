"""Outbox rows: what the MES and an external LIMS are told of each event, in its transaction."""

from __future__ import annotations

from labgate.domain.events import BatchDisposed, LotDecided, SampleEvent
from labgate.domain.raw_materials import ReceivedLot
from labgate.service.handlers.common import must_get
from labgate.service.reactions.messages import (
    disposition_message,
    lot_status_message,
    to_lims,
    to_mes,
)
from labgate.service.reactions.scope import Scope, sample_of
from labgate.service.unit_of_work import UnitOfWork


def tell_mes(event: SampleEvent, uow: UnitOfWork, scope: Scope) -> None:
    """The MES hears of its sample: registered, results, invalidations, holds, cancellation."""
    for message in to_mes(event, sample_of(event, uow), scope.ctx.correlation_id):
        uow.send(message)


def tell_lims(event: SampleEvent, uow: UnitOfWork, scope: Scope) -> None:
    """An external LIMS hears of the samples it is to test: requested, cancelled (a native lab
    module is told nothing: it reads labgate's own records)."""
    if not uow.external_lims:
        return
    for message in to_lims(event, sample_of(event, uow), scope.ctx.correlation_id):
        uow.send(message)


def tell_batch_disposition(event: BatchDisposed, uow: UnitOfWork, scope: Scope) -> None:
    """The MES hears that QA released or rejected a batch (`labgate.batch_disposition.v1`)."""
    uow.send(disposition_message(event, scope.ctx.correlation_id))


def tell_lot_status(event: LotDecided, uow: UnitOfWork, scope: Scope) -> None:
    """The MES hears that QA released or rejected a received lot (`labgate.lot_status.v1`)."""
    lot = uow.tracked(ReceivedLot, event.site, event.lot) or must_get(
        uow, ReceivedLot, "lot", "lot", site=event.site, code=event.lot
    )
    uow.send(lot_status_message(lot, scope.ctx.correlation_id, event.occurred_at))
