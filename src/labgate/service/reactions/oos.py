"""OOS: an approved result the MES sees Rejected opens a deviation and holds its batch (else its
lot); the hold is lifted when the last deviation on it ends."""

from __future__ import annotations

from labgate.domain.commands import Context
from labgate.domain.deviations import Deviation, open_oos
from labgate.domain.events import DeviationEnded, ResultApproved
from labgate.domain.samples import Sample
from labgate.domain.status_map import MesStatus
from labgate.service.handlers.common import load_sample, must_get, record
from labgate.service.reactions.scope import Scope, sample_of
from labgate.service.unit_of_work import UnitOfWork


def open_deviation(event: ResultApproved, uow: UnitOfWork, scope: Scope) -> None:
    """A Rejected approved result opens an OOS deviation and holds its batch or lot. One
    deviation per result, however often this is asked."""
    sample = sample_of(event, uow)
    result = sample.result(event.result)
    if result.mes_status is not MesStatus.REJECTED:
        return
    if uow.records.get(Deviation, site=sample.site, result=result.code) is not None:
        return
    at, ctx = scope.deps.clock.now(), scope.ctx
    deviation = open_oos(uow.next_number(f"deviation:{sample.site}"), sample, result, ctx.actor, at)
    uow.records.add(deviation)
    subject = ("deviation", deviation.code, sample.site)
    record(uow, ctx, at, "deviation.opened", subject, after=deviation, reason=deviation.reason)
    _hold(uow, ctx, sample, deviation, on=True)


def lift_hold(event: DeviationEnded, uow: UnitOfWork, scope: Scope) -> None:
    """A deviation that ended lifts the hold on its batch or lot, once none on it is open (an
    environmental excursion or a data-quality breach holds nothing)."""
    deviation = uow.tracked(Deviation, event.site, event.deviation) or must_get(
        uow, Deviation, "deviation", "deviation", site=event.site, code=event.deviation
    )
    if not deviation.about_a_result:
        return
    sample = uow.tracked(Sample, deviation.site, deviation.sample)
    if sample is None:
        sample = load_sample(uow, deviation.site, deviation.sample)
    _hold(uow, scope.ctx, sample, deviation, on=False)


def _hold(uow: UnitOfWork, ctx: Context, sample: Sample, deviation: Deviation, on: bool) -> None:
    """Put the batch (else the lot) on hold, or lift the hold once no deviation on it is open;
    audited on the batch or lot, and told to the MES through the sample's events."""
    kind, code = ("batch", deviation.batch) if deviation.batch else ("lot", deviation.lot)
    if code is None:
        return  # a sample of no batch or lot: nothing to hold
    on_it = uow.records.find(Deviation, site=sample.site, **{kind: code})
    if not on and any(d.is_open for d in on_it):
        return
    at = deviation.opened_at if on else (deviation.closed_at or deviation.phase1_at)
    assert at is not None
    change = {"hold": "on" if on else "off", "deviation": deviation.code}
    why = deviation.reason if on else f"{deviation.code} {deviation.state.value}"
    action = f"{kind}.held" if on else f"{kind}.hold_lifted"
    record(uow, ctx, at, action, (kind, code, sample.site), after=change, reason=why)
    uow.track(sample).note_hold(deviation.code, deviation.result, why, at, on=on)
