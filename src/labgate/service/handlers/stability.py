"""Stability studies: protocol written, approved by QA (e-signature, not the author), pulled on
schedule (each pull creates its sample for the normal result flow), completed or cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta

from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.compliance.signatures import Meaning
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.batches import Batch
from labgate.domain.commands import Context
from labgate.domain.errors import Conflict, InvalidInput
from labgate.domain.masterdata import Product, SpecVersion, version_in_force
from labgate.domain.samples import Sample
from labgate.domain.sampling import RELEASE_SET
from labgate.domain.stability import (
    Pulled,
    ScheduledPull,
    StabilityPull,
    StabilityStudy,
    StudyStatus,
    check_protocol,
    check_pull,
    closure_content,
    criteria_from,
    outside_window,
    study_content,
)
from labgate.domain.stability_commands import (
    ApproveStudy,
    CloseStudy,
    CreateStudy,
    PullDue,
    PullStability,
)
from labgate.service.deps import Deps
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.handlers.samples import planned_test
from labgate.service.unit_of_work import UnitOfWork

_CLOCK_SKEW = timedelta(minutes=5)  # a pull time a little ahead of the server's clock is skew


def create_study(cmd: CreateStudy, uow: UnitOfWork, deps: Deps) -> str:
    """A draft protocol; each trended test's criterion is stated or taken from the spec."""
    with uow:
        now = deps.clock.now()
        check_protocol(cmd.schedule, cmd.window_days)
        product = must_get(uow, Product, "product", "product", site=cmd.site, code=cmd.product)
        batch = must_get(uow, Batch, "batch", "batch", site=cmd.site, code=cmd.batch)
        if batch.product != product.code:
            raise Conflict(
                f"Batch {batch.code} is of product {batch.product}, not {product.code}.",
                reason="stability.batch_not_of_product",
                field="batch",
            )
        if not cmd.tests or len(set(cmd.tests)) != len(cmd.tests):
            raise InvalidInput(
                "Name each test pulled at every time point once.",
                reason="stability.tests_invalid",
                field="tests",
            )
        spec = _spec_in_force(uow, cmd.site, product.specification, cmd.start_at, "start_at")
        limits = {line.test_code: line.limit for line in spec.lines_of(RELEASE_SET)}
        stated = {test: (lower, upper) for test, lower, upper in cmd.criteria}
        for test in cmd.tests:
            if test not in limits:
                raise InvalidInput(
                    f"Test {test} is not in specification {spec.ref}; pull tests of it: "
                    f"{', '.join(sorted(limits))}.",
                    reason="stability.test_not_in_spec",
                    field="tests",
                )
        study = StabilityStudy(
            site=cmd.site,
            code=f"STAB-{uow.next_number(f'stability_study:{cmd.site}'):05d}",
            product=product.code,
            batch=batch.code,
            conditions=[condition for condition, _ in cmd.schedule],
            time_points={condition: list(months) for condition, months in cmd.schedule},
            tests=list(cmd.tests),
            criteria=criteria_from(cmd.tests, stated, limits),
            start_at=cmd.start_at,
            window_days=cmd.window_days,
            author=cmd.ctx.actor,
            created_at=now,
        )
        uow.records.add(study)
        record(
            uow,
            cmd.ctx,
            now,
            "stability_study.created",
            ("stability_study", study.code, cmd.site),
            after=study,
            reason="protocol written (draft)",
        )
        uow.commit()
        return study.code


def approve_study(cmd: ApproveStudy, uow: UnitOfWork, deps: Deps) -> str:
    """QA's e-signature on the protocol; never the author's own."""
    with uow:
        now = deps.clock.now()
        signer, meaning = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.APPROVE_SPEC, SignedAction.APPROVE_STUDY
        )
        study = load_study(uow, cmd.site, cmd.study)
        study.approve(signer.username, now)
        subject = ("stability_study", study.code, cmd.site)
        record(
            uow,
            cmd.ctx,
            now,
            "stability_study.approved",
            subject,
            before={"status": StudyStatus.DRAFT},
            after={"status": study.status, "approver": study.approver},
            reason=f"e-signature: {meaning.value}",
        )
        apply_signature(uow, cmd.ctx, now, signer, meaning, subject, study_content(study))
        uow.commit()
        return study.code


def close_study(cmd: CloseStudy, uow: UnitOfWork, deps: Deps) -> str:
    """Completed (all pulls done and assessed) or cancelled, with a reason; a cancellation
    ends the study's evidence, so it is a signed decision."""
    with uow:
        now = deps.clock.now()
        signer = _cancellation_signer(uow, cmd) if cmd.cancel else None
        study = load_study(uow, cmd.site, cmd.study)
        before = study.status
        target = StudyStatus.CANCELLED if cmd.cancel else StudyStatus.COMPLETED
        study.close(target, cmd.ctx.actor, now, cmd.reason)
        subject = ("stability_study", study.code, cmd.site)
        record(
            uow,
            cmd.ctx,
            now,
            f"stability_study.{target.value}",
            subject,
            before={"status": before},
            after={"status": study.status},
            reason=study.close_reason or cmd.reason,
        )
        if signer is not None:
            apply_signature(uow, cmd.ctx, now, *signer, subject, closure_content(study))
        uow.commit()
        return study.code


def _cancellation_signer(uow: UnitOfWork, cmd: CloseStudy) -> tuple[Account, Meaning]:
    if cmd.signature is None:
        raise InvalidInput(
            f"Cancelling study {cmd.study} needs your e-signature.",
            reason="signature.required",
            field="signature",
        )
    return check_signature(
        uow, cmd.ctx, cmd.signature, Permission.MANAGE_STABILITY, SignedAction.CANCEL_STUDY
    )


def pull(cmd: PullStability, uow: UnitOfWork, deps: Deps) -> str:
    """One pull by the lab: its sample, made and registered; outside the window, a reason."""
    with uow:
        now = deps.clock.now()
        at = cmd.pulled_at or now
        if at > now + _CLOCK_SKEW:
            raise InvalidInput(
                f"A pull is recorded when done; {at.isoformat()} is in the future.",
                reason="stability.pulled_in_future",
                field="pulled_at",
            )
        study = load_study(uow, cmd.site, cmd.study)
        scheduled = study.scheduled(cmd.condition, cmd.time_point)
        done = uow.records.find(StabilityPull, site=cmd.site, study=study.code)
        check_pull(study, scheduled, done, at, cmd.reason)
        sample = _pull_one(uow, cmd.ctx, study, scheduled, at, cmd.reason, now)
        uow.commit()
        return sample


def pull_due(cmd: PullDue, uow: UnitOfWork, deps: Deps) -> Pulled:
    """The scheduler's run: every pull of an active study whose window has opened by `as_of`;
    a pull whose window has closed is left for a person, who must give a reason."""
    with uow:
        now, outcome = deps.clock.now(), Pulled()
        if cmd.as_of > now + _CLOCK_SKEW:
            raise InvalidInput(
                "Pull what is due as of now or an earlier time, not a future one.",
                reason="stability.as_of_in_future",
                field="as_of",
            )
        for study in uow.records.find(StabilityStudy, site=cmd.site, status=StudyStatus.ACTIVE):
            done = {
                (p.condition, p.months)
                for p in uow.records.find(StabilityPull, site=cmd.site, study=study.code)
            }
            window = timedelta(days=study.window_days)
            for due in study.schedule():
                if (due.condition, due.months) in done or due.due_at - window > cmd.as_of:
                    continue
                if outside_window(due, cmd.as_of, study.window_days):
                    outcome.skipped.append(_overdue(study, due))
                    continue
                sample = _pull_one(uow, cmd.ctx, study, due, cmd.as_of, None, now)
                outcome.pulled.append(sample)
        uow.commit()
        return outcome


def _overdue(study: StabilityStudy, due: ScheduledPull) -> dict[str, str]:
    return {
        "study": study.code,
        "condition": due.condition,
        "time_point": str(due.months),
        "reason": "stability.pull_outside_window",
        "detail": f"due {due.due_at.date().isoformat()} ± {study.window_days} days: "
        "pull it by hand with a reason",
    }


def _pull_one(
    uow: UnitOfWork,
    ctx: Context,
    study: StabilityStudy,
    due: ScheduledPull,
    at: datetime,
    reason: str | None,
    now: datetime,
) -> str:
    """Make the pull's sample (the batch, the study's tests, the spec in force at the pull)."""
    product = must_get(uow, Product, "product", "product", site=study.site, code=study.product)
    spec = _spec_in_force(uow, study.site, product.specification, at, "pulled_at")
    sample = Sample(
        site=study.site,
        code=f"S-{uow.next_number(f'sample:{study.site}'):06d}",
        product=study.product,
        specification=spec.specification,
        spec_version=spec.version,
        sampled_at=at,
        requested_by=ctx.actor,
        batch=study.batch,
        container=f"{study.code} {due.condition} T{due.months}",
        stability_study=study.code,
        tests=[planned_test(uow, study.site, spec, at, test, None) for test in study.tests],
    )
    uow.records.add(sample)
    uow.track(sample).announce(now)
    sample.register(None, now)
    late = outside_window(due, at, study.window_days)
    done = StabilityPull(
        study.site,
        study.code,
        study.product,
        study.batch,
        due.condition,
        due.months,
        due.due_at,
        sample.code,
        at,
        ctx.actor,
        reason if late else None,
    )
    uow.records.add(done)
    why = f"outside the window: {reason}" if late else "scheduled pull, inside its window"
    record(
        uow,
        ctx,
        now,
        "stability.pulled",
        ("stability_study", study.code, study.site),
        after=to_jsonable(done),
        reason=why,
    )
    record(
        uow,
        ctx,
        now,
        "sample.requested",
        ("sample", sample.code, study.site),
        after=sample,
        reason=f"stability pull {due.condition} T{due.months} of {study.code}",
    )
    return sample.code


def _spec_in_force(
    uow: UnitOfWork, site: str, specification: str, at: datetime, field: str
) -> SpecVersion:
    versions = uow.records.find(SpecVersion, site=site, specification=specification)
    spec = version_in_force(versions, at)
    if spec is None:
        raise Conflict(
            f"No version of specification {specification} is in force on {at.isoformat()}.",
            reason="spec.none_in_force",
            field=field,
        )
    return spec


def load_study(uow: UnitOfWork, site: str, code: str) -> StabilityStudy:
    """A study by (site, code), or NotFound."""
    return must_get(uow, StabilityStudy, "stability_study", "study", site=site, code=code)
