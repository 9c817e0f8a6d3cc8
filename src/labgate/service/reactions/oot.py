"""Out-of-trend checks: an approved trended result is checked against its history; an
invalidated result's alert is withdrawn.

`check_trend` runs on every approval, the bulk-ingest hot path included, so it decides from the
sample alone (`stability_study`, `trended`: set when the sample was made) and reads nothing for
the results of other samples. Raising an alert never changes the result."""

from __future__ import annotations

from decimal import Decimal

from labgate.domain.batches import Batch
from labgate.domain.events import ResultApproved, ResultInvalidated
from labgate.domain.lifecycle import ResultStatus
from labgate.domain.samples import Result, Sample
from labgate.domain.stability import StabilityPull
from labgate.domain.trending import (
    IPC_HISTORY,
    MIN_HISTORY,
    OOT_ALPHA,
    OOT_METHOD,
    OotAlert,
    TrendObservation,
)
from labgate.service.handlers.common import record
from labgate.service.reactions.scope import Scope, sample_of
from labgate.service.unit_of_work import UnitOfWork

Series = tuple[str, str, list[TrendObservation], TrendObservation]


def check_trend(event: ResultApproved, uow: UnitOfWork, scope: Scope) -> None:
    """An approved stability or trended-IPC result outside its prediction interval raises an
    alert; too little history raises nothing."""
    sample = sample_of(event, uow)
    if sample.stability_study is None and not sample.trended:
        return  # the common case: no look-up at all
    result = sample.result(event.result)
    if result.canonical_value is None or result.status is not ResultStatus.APPROVED:
        return
    found = _stability(uow, sample, result) if sample.stability_study else _ipc(uow, sample, result)
    if found is None or len(found[2]) < MIN_HISTORY:
        return
    kind, series, history, point = found
    verdict = scope.deps.trend_check(history, point, OOT_ALPHA)
    if verdict is None or not verdict.out_of_trend:
        return
    if uow.records.get(OotAlert, site=sample.site, result=result.code) is not None:
        return
    at, ctx = scope.deps.clock.now(), scope.ctx
    alert = OotAlert(
        sample.site,
        f"OOT-{uow.next_number(f'oot_alert:{sample.site}'):06d}",
        kind,
        result.code,
        sample.code,
        sample.batch,
        result.test_code,
        series,
        point.time,
        point.value,
        verdict.predicted,
        verdict.lower,
        verdict.upper,
        OOT_ALPHA,
        OOT_METHOD,
        len(history),
        at,
        ctx.actor,
        result.analyst,
    )
    uow.records.add(alert)
    why = (
        f"{result.test_code} {point.value} outside [{verdict.lower}, {verdict.upper}] "
        f"predicted from {len(history)} results of {series}; an alert, not a rejection"
    )
    record(
        uow,
        ctx,
        at,
        "oot_alert.raised",
        ("oot_alert", alert.code, sample.site),
        after=alert,
        reason=why,
    )


def _stability(uow: UnitOfWork, sample: Sample, result: Result) -> Series | None:
    """History: the other batches' approved results (same product, test, condition) vs months."""
    pulled = uow.records.find(StabilityPull, site=sample.site, sample=sample.code)
    if not pulled:
        return None
    this = pulled[0]
    pulls = uow.records.find(
        StabilityPull, site=sample.site, product=this.product, condition=this.condition
    )
    others = {p.sample: p for p in pulls if p.batch != this.batch}
    history = []
    for study in sorted({p.study for p in others.values()}):
        for other in uow.records.find(Sample, site=sample.site, stability_study=study):
            value = approved_value(other, result.test_code)
            if other.code in others and value is not None:
                history.append(
                    TrendObservation(
                        others[other.code].batch, Decimal(others[other.code].months), value
                    )
                )
    point = TrendObservation(this.batch, Decimal(this.months), _value(result))
    series = f"{this.product} {result.test_code} at {this.condition}"
    return "stability", series, history, point


def _ipc(uow: UnitOfWork, sample: Sample, result: Result) -> Series | None:
    """History: the sampling point's approved results of earlier batches, x = batch order."""
    batches = {b.code: b for b in uow.records.find(Batch, site=sample.site, product=sample.product)}
    this = batches.get(sample.batch or "")
    if this is None or this.started_at is None or sample.sampling_point is None:
        return None
    values: dict[str, Decimal] = {}
    for other in uow.records.find(Sample, site=sample.site, sampling_point=sample.sampling_point):
        value = approved_value(other, result.test_code)
        if other.batch and other.batch != this.code and value is not None:
            values.setdefault(other.batch, value)
    earlier = sorted(
        (
            b
            for b in batches.values()
            if b.code in values and b.started_at is not None and b.started_at < this.started_at
        ),
        key=lambda b: (b.started_at, b.code),
    )[-IPC_HISTORY:]
    history = [TrendObservation(b.code, Decimal(i), values[b.code]) for i, b in enumerate(earlier)]
    point = TrendObservation(this.code, Decimal(len(history)), _value(result))
    return "ipc", f"{sample.sampling_point} {result.test_code}", history, point


def approved_value(sample: Sample, test_code: str) -> Decimal | None:
    """The approved, active value of a test on a sample in its canonical unit, unrounded (the
    trend sees what was measured, not the reporting precision), if any."""
    found = sample.active_result(test_code)
    if found is None or found.status is not ResultStatus.APPROVED:
        return None
    return found.canonical_value


def _value(result: Result) -> Decimal:
    assert result.canonical_value is not None  # checked by the caller
    return result.canonical_value


def withdraw_alert(event: ResultInvalidated, uow: UnitOfWork, scope: Scope) -> None:
    """An invalidated result's open OOT alert is withdrawn, audited: the result no longer
    speaks, and its retest is checked when it is approved."""
    sample = sample_of(event, uow)
    if sample.stability_study is None and not sample.trended:
        return
    result, ctx, at = sample.result(event.result), scope.ctx, event.occurred_at
    alert = uow.records.get(OotAlert, site=sample.site, result=result.code)
    if alert is None:
        return
    before = {"status": alert.status}
    if alert.withdraw(ctx.actor, at, result.invalidation_reason or "result invalidated"):
        subject = ("oot_alert", alert.code, sample.site)
        after = {"status": alert.status, "assessment": alert.assessment}
        record(uow, ctx, at, "oot_alert.withdrawn", subject, before=before, after=after,
               reason=f"result {result.code} invalidated")  # fmt: skip
