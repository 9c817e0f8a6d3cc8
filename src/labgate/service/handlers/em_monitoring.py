"""Environmental monitoring rounds: start a round (or every due one), record a count judged by
the limits in force when the sample was taken, record excursions (their deviations are opened
by a reaction, `service/reactions/em.py`, in the same transaction); and the room occupancy the
MES reports for impact lists."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from labgate.compliance.canonical import to_jsonable
from labgate.domain.batches import Batch
from labgate.domain.commands import Context
from labgate.domain.em_commands import RecordEmCount, ReportOccupancy, StartDueRounds, StartEmRound
from labgate.domain.em_limits import (
    ANNEX1_2022,
    EmEvaluation,
    EmOutcome,
    OperationalState,
    check_count,
    evaluate_count,
    parse_state,
)
from labgate.domain.em_monitoring import (
    EmExcursion,
    EmLocation,
    EmPoint,
    EmRound,
    EmRoute,
    EmSample,
    EmSampleStatus,
    EmSchedule,
    EmSiteLimit,
    RoomOccupancy,
)
from labgate.domain.em_rules import (
    limits_in_force,
)
from labgate.domain.errors import Conflict, InvalidInput
from labgate.domain.masterdata import Location
from labgate.domain.numbers import to_plain
from labgate.service.deps import Deps
from labgate.service.handlers.common import must_get, record
from labgate.service.unit_of_work import UnitOfWork


def start_round(cmd: StartEmRound, uow: UnitOfWork, deps: Deps) -> str:
    """An EM sample per point of the route, in the route's order."""
    state = parse_state(cmd.state)
    with uow:
        code = _start(uow, cmd.ctx, cmd.site, cmd.route, state, cmd.planned_at, None, deps)
        uow.commit()
        return code


def start_due_rounds(cmd: StartDueRounds, uow: UnitOfWork, deps: Deps) -> list[str]:
    """The scheduler's tick: a round for every schedule due now; each moves on past now."""
    with uow:
        now, started = deps.clock.now(), []
        for schedule in uow.records.find(EmSchedule, site=cmd.site):
            if schedule.next_due > now:
                continue
            before = {"next_due": schedule.next_due}
            started.append(
                _start(
                    uow,
                    cmd.ctx,
                    cmd.site,
                    schedule.route,
                    schedule.state,
                    schedule.next_due,
                    schedule.code,
                    deps,
                )
            )
            while schedule.next_due <= now:
                schedule.next_due += schedule.frequency.period
            subject = ("em_schedule", schedule.code, cmd.site)
            record(
                uow,
                cmd.ctx,
                now,
                "em_schedule.advanced",
                subject,
                before=before,
                after={"next_due": schedule.next_due},
                reason=f"round {started[-1]} started",
            )
        uow.commit()
        return started


def _start(
    uow: UnitOfWork,
    ctx: Context,
    site: str,
    route_code: str,
    state: OperationalState,
    planned_at: datetime,
    schedule: str | None,
    deps: Deps,
) -> str:
    now = deps.clock.now()
    route = must_get(uow, EmRoute, "em_route", "route", site=site, code=route_code)
    em_round = EmRound(
        site,
        f"EMR-{uow.next_number(f'em_round:{site}'):06d}",
        route.code,
        schedule,
        state,
        planned_at,
        ctx.actor,
        now,
    )
    uow.records.add(em_round)
    codes = []
    for point_code in route.points:
        point = must_get(uow, EmPoint, "em_point", "points", site=site, code=point_code)
        place = must_get(
            uow, EmLocation, "em_location", "location", site=site, location=point.location
        )
        number = uow.next_number(f"em_sample:{site}")
        sample = EmSample(
            site,
            f"EMS-{number:06d}",
            em_round.code,
            point.code,
            point.location,
            place.grade,
            state,
            point.sample_type,
            planned_at,
        )
        uow.records.add(sample)
        codes.append(sample.code)
    subject = ("em_round", em_round.code, site)
    after = to_jsonable(em_round) | {"samples": codes}
    record(uow, ctx, now, "em_round.started", subject, after=after, reason=f"route {route.code}")
    return em_round.code


def record_count(cmd: RecordEmCount, uow: UnitOfWork, deps: Deps) -> str:
    """Judge the count by the limits in force at sampling time and keep them on the sample; an
    excursion is recorded (the sample raises EmExcursionRecorded)."""
    with uow:
        now = deps.clock.now()
        sample = uow.track(
            must_get(uow, EmSample, "em_sample", "em_sample", site=cmd.site, code=cmd.em_sample)
        )
        if sample.status is not EmSampleStatus.PLANNED:
            raise Conflict(
                f"EM sample {sample.code} was counted already; a count is recorded once.",
                reason="em.sample_already_counted",
                field="em_sample",
            )
        sampled_at = cmd.sampled_at or sample.planned_at
        if sampled_at > now:
            raise InvalidInput(
                "The sampling time is in the future; a count follows its sampling.",
                reason="em.sampled_in_future",
                field="sampled_at",
            )
        check_count(cmd.count, sample.sample_type)
        evaluation, version = _evaluate(uow, sample, cmd.count, sampled_at)
        before = {"status": sample.status}
        sample.record_count(evaluation, version, sampled_at, cmd.ctx.actor, now)
        subject = ("em_sample", sample.code, cmd.site)
        record(
            uow,
            cmd.ctx,
            now,
            "em_sample.counted",
            subject,
            before=before,
            after=to_jsonable(sample),
            reason=f"count {to_plain(cmd.count)}: {evaluation.outcome.value}",
        )
        if evaluation.outcome in (EmOutcome.ALERT_EXCEEDED, EmOutcome.ACTION_EXCEEDED):
            _excursion(uow, cmd.ctx, sample, evaluation, now)
        uow.commit()
        return sample.code


def _evaluate(
    uow: UnitOfWork, sample: EmSample, count: Decimal, at: datetime
) -> tuple[EmEvaluation, str | None]:
    versions = uow.records.find(EmSiteLimit, site=sample.site)
    applied = limits_in_force(
        versions, sample.grade, sample.state, sample.sample_type, sample.location, at
    )
    table = ANNEX1_2022.replaced("site", [applied.cell])
    judged = evaluate_count(
        table, sample.grade, sample.state, sample.sample_type, count, applied.alert
    )
    # The alert level came from the site's version, not from an ad-hoc override.
    return EmEvaluation(
        judged.outcome, judged.count, applied.cell, applied.alert, applied.alert_source
    ), applied.version


def _excursion(
    uow: UnitOfWork, ctx: Context, sample: EmSample, evaluation: EmEvaluation, now: datetime
) -> None:
    site, action = sample.site, evaluation.outcome is EmOutcome.ACTION_EXCEEDED
    place = must_get(
        uow, EmLocation, "em_location", "location", site=site, location=sample.location
    )
    limit = evaluation.limit.action if action else evaluation.alert
    assert limit is not None and sample.sampled_at is not None  # exceeded, and just counted
    number = uow.next_number(f"em_excursion:{site}")
    excursion = EmExcursion(
        site,
        f"EMX-{number:06d}",
        sample.code,
        sample.point,
        sample.location,
        place.room,
        evaluation.outcome,
        evaluation.count,
        limit,
        sample.sampled_at,
        ctx.actor,
        now,
    )
    uow.records.add(excursion)
    level = "action limit" if action else "alert level"
    why = (
        f"EM excursion: point {sample.point} ({sample.sample_type.value}, grade "
        f"{sample.grade.value}, {sample.state.value}) counted {to_plain(evaluation.count)} "
        f"{sample.unit}, above the {level} {limit}"
    )
    subject = ("em_excursion", excursion.code, site)
    sample.exceeded(excursion.code, action, why, now)
    record(
        uow, ctx, now, "em_excursion.recorded", subject, after=to_jsonable(excursion), reason=why
    )


def report_occupancy(cmd: ReportOccupancy, uow: UnitOfWork, deps: Deps) -> str:
    """The MES reports a batch in a room; an impact list reads these."""
    if cmd.to_at is not None and cmd.to_at < cmd.from_at:
        raise InvalidInput(
            "The occupancy ends before it starts.",
            reason="em.occupancy_ends_before_start",
            field="to_at",
        )
    with uow:
        now = deps.clock.now()
        must_get(uow, Batch, "batch", "batch", site=cmd.site, code=cmd.batch)
        must_get(uow, Location, "location", "location", site=cmd.site, code=cmd.location)
        stay = RoomOccupancy(
            cmd.site, cmd.batch, cmd.location, cmd.from_at, cmd.to_at, cmd.ctx.actor, now
        )
        uow.records.add(stay)
        subject = ("batch", cmd.batch, cmd.site)
        record(
            uow,
            cmd.ctx,
            now,
            "room_occupancy.reported",
            subject,
            after=to_jsonable(stay),
            reason=f"batch {cmd.batch} in {cmd.location}",
        )
        uow.commit()
        return cmd.batch
