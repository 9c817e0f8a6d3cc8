"""Data-quality runs: every rule measured at a site in one transaction, the run kept with one
line per rule, audited (`dq.run`, naming the breaches); a rule in breach opens one deviation
while the breach lasts: a later run finding it still in breach notes it on that deviation."""

from __future__ import annotations

from datetime import datetime

from labgate.domain.commands import Context
from labgate.domain.data_quality import (
    RULES,
    DqRuleResult,
    DqRun,
    DqStatus,
    Verdict,
    breach_reason,
    judge,
    open_dq_deviation,
    result_line,
)
from labgate.domain.deviations import DATA_QUALITY, Deviation
from labgate.domain.dq_commands import RunDataQuality
from labgate.domain.masterdata import Site
from labgate.service.deps import Deps
from labgate.service.handlers.common import must_get, record
from labgate.service.unit_of_work import UnitOfWork


def run_data_quality(cmd: RunDataQuality, uow: UnitOfWork, deps: Deps) -> int:
    """Measure, judge and keep every rule at the site; return the run's id."""
    with uow:
        now = deps.clock.now()
        must_get(uow, Site, "site", "site", code=cmd.site)
        measures = uow.measure_quality(cmd.site, now, cmd.windows)
        verdicts = [judge(rule, measures[rule.id]) for rule in RULES]
        breaches = [v for v in verdicts if v.status is DqStatus.BREACH]
        run = DqRun(cmd.site, now, cmd.ctx.actor, cmd.trigger, len(verdicts), len(breaches))
        uow.records.add(run)
        uow.flush()  # the run's id, for its lines
        assert run.id is not None
        lines = [result_line(run.id, v) for v in verdicts]
        for line, verdict in zip(lines, verdicts, strict=True):
            if verdict.status is DqStatus.BREACH:
                line.deviation = _deviation_for(uow, cmd.ctx, cmd.site, verdict, now)
            uow.records.add(line)
        subject = ("dq_run", str(run.id), cmd.site)
        after = {"trigger": cmd.trigger, "rules": run.rules, "breaches": _breaches(lines)}
        said = f"{len(breaches)} of {run.rules} rules in breach" if breaches else "all within"
        record(uow, cmd.ctx, now, "dq.run", subject, after=after,
               reason=f"Data-quality run at {cmd.site} ({cmd.trigger}): {said}")  # fmt: skip
        uow.commit()
        return run.id


def _breaches(lines: list[DqRuleResult]) -> list[dict[str, object]]:
    return [
        {"rule": x.rule, "measured": x.measured, "threshold": x.threshold,
         "deviation": x.deviation}
        for x in lines if x.status is DqStatus.BREACH
    ]  # fmt: skip


def _deviation_for(
    uow: UnitOfWork, ctx: Context, site: str, verdict: Verdict, now: datetime
) -> str:
    """The rule's open deviation, the breach noted on it; else a new one."""
    rule = verdict.rule
    reason = breach_reason(verdict)
    found = uow.records.find(Deviation, site=site, kind=DATA_QUALITY, sample=rule.id)
    still = next((d for d in found if d.is_open), None)
    if still is not None:
        subject = ("deviation", still.code, site)
        after = {"rule": rule.id, "measured": verdict.measure.failing,
                 "examples": list(verdict.measure.examples)}  # fmt: skip
        record(uow, ctx, now, "deviation.breach_continues", subject, after=after, reason=reason)
        return still.code
    number = uow.next_number(f"deviation:{site}")
    deviation = open_dq_deviation(number, site, verdict, ctx.actor, now)
    uow.records.add(deviation)
    subject = ("deviation", deviation.code, site)
    record(uow, ctx, now, "deviation.opened", subject, after=deviation, reason=reason)
    return deviation.code
