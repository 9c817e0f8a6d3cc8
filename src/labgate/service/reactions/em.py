"""Environmental excursions: an action excursion, or the run of alerts its point is set to
count, opens the deviation QA investigates and closes through the usual workflow."""

from __future__ import annotations

from labgate.domain.deviations import Deviation
from labgate.domain.em_monitoring import EM_EXCURSION, EmExcursion, EmPoint, EmSample
from labgate.domain.em_rules import trailing_alerts
from labgate.domain.events import EmExcursionRecorded
from labgate.service.handlers.common import must_get, record
from labgate.service.reactions.scope import Scope
from labgate.service.unit_of_work import UnitOfWork


def open_em_deviation(event: EmExcursionRecorded, uow: UnitOfWork, scope: Scope) -> None:
    """Open the excursion's deviation if it is an action excursion or ends a run of alerts.
    Whoever recorded the count is its 'analyst', so segregation of duties keeps them from
    concluding or closing it."""
    sample = uow.tracked(EmSample, event.site, event.em_sample) or must_get(
        uow, EmSample, "em_sample", "em_sample", site=event.site, code=event.em_sample
    )
    if not (event.action or _alert_run_reached(uow, sample)):
        return
    excursion = must_get(
        uow, EmExcursion, "em_excursion", "excursion", site=event.site, code=event.excursion
    )
    now, actor = scope.deps.clock.now(), scope.ctx.actor
    number = uow.next_number(f"deviation:{sample.site}")
    deviation = Deviation(
        sample.site,
        f"DEV-{number:06d}",
        EM_EXCURSION,
        sample.code,
        excursion.code,
        sample.point,
        actor,
        None,
        None,
        now,
        actor,
        event.reason,
    )
    uow.records.add(deviation)
    excursion.deviation = deviation.code
    subject = ("deviation", deviation.code, sample.site)
    record(uow, scope.ctx, now, "deviation.opened", subject, after=deviation, reason=event.reason)


def _alert_run_reached(uow: UnitOfWork, sample: EmSample) -> bool:
    """N alerts in a row at a point (N configured on the point) open a deviation, once per run."""
    point = must_get(uow, EmPoint, "em_point", "point", site=sample.site, code=sample.point)
    counted = [
        s
        for s in uow.records.find(EmSample, site=sample.site, point=sample.point)
        if s.outcome is not None and s.sampled_at is not None
    ]
    outcomes = [s.outcome for s in sorted(counted, key=lambda s: (s.sampled_at, s.code))]
    return trailing_alerts([o for o in outcomes if o is not None]) == point.alerts_to_deviation
