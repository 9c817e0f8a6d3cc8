"""Raw materials: receive a lot into quarantine with its skip-lot decision; release or reject it
(QA, e-signature), which moves its plan on and tells the MES."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.compliance.signatures import Meaning
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.deviations import Deviation
from labgate.domain.errors import Conflict
from labgate.domain.masterdata import (
    SpecVersion,
    version_in_force,
)
from labgate.domain.raw_materials import (
    DecideLot,
    LotStatus,
    MaterialPlan,
    ReceivedLot,
    ReceiveLot,
    release_blockers,
    tests_for_lot,
)
from labgate.domain.samples import Sample
from labgate.domain.sampling import RELEASE_SET
from labgate.domain.skip_lot import InspectionState, next_lot
from labgate.service.deps import Deps
from labgate.service.handlers.common import (
    apply_signature,
    check_signature,
    load_sample,
    must_get,
    record,
)
from labgate.service.handlers.samples import planned_test
from labgate.service.handlers.skip_lot_plans import load_plan, plan_id
from labgate.service.unit_of_work import UnitOfWork


def receive_lot(cmd: ReceiveLot, uow: UnitOfWork, deps: Deps) -> str:
    """Quarantine the lot; its sample plans identity always, the full panel as the plan says."""
    with uow:
        now = deps.clock.now()
        plan = load_plan(uow, cmd.site, cmd.material, cmd.supplier)
        spec = _in_force(uow, cmd.site, plan.specification, cmd.received_at)
        draw = deps.draw() if plan.state is InspectionState.SKIPPING else None
        decision = next_lot(plan.plan, plan.running, draw)
        codes = tests_for_lot(
            [line.test_code for line in spec.lines_of(RELEASE_SET)], plan.identity_tests, decision
        )
        lot_code = f"RM-{uow.next_number(f'received_lot:{cmd.site}'):06d}"
        sample = Sample(
            site=cmd.site,
            code=f"S-{uow.next_number(f'sample:{cmd.site}'):06d}",
            product=cmd.material,
            specification=spec.specification,
            spec_version=spec.version,
            sampled_at=cmd.received_at,
            requested_by=cmd.ctx.actor,
            lot=lot_code,
            tests=[planned_test(uow, cmd.site, spec, cmd.received_at, c, None) for c in codes],
        )
        uow.records.add(sample)
        uow.track(sample).announce(now)
        sample.register(None, now)
        lot = ReceivedLot(
            cmd.site,
            lot_code,
            cmd.material,
            cmd.supplier,
            cmd.supplier_lot,
            cmd.received_at,
            cmd.ctx.actor,
            sample.code,
            decision.state,
            decision.inspect,
            draw,
        )
        uow.records.add(lot)
        why = _decision_text(lot, plan)
        record(
            uow,
            cmd.ctx,
            now,
            "lot.received",
            ("lot", lot.code, cmd.site),
            after={**to_jsonable(lot), "planned_tests": codes},
            reason=why,
        )
        record(
            uow,
            cmd.ctx,
            now,
            "sample.requested",
            ("sample", sample.code, cmd.site),
            after=sample,
            reason=f"receipt of lot {lot.code}",
        )
        uow.commit()
        return lot.code


def _decision_text(lot: ReceivedLot, plan: MaterialPlan) -> str:
    panel = "full panel" if lot.full_panel else "identity only (full panel skipped)"
    if lot.draw is None:
        return f"{lot.inspection_state.value} inspection: {panel}"
    return (
        f"{lot.inspection_state.value} inspection, draw {lot.draw} against fraction "
        f"{plan.fraction}: {panel}"
    )


def _in_force(uow: UnitOfWork, site: str, specification: str, at: datetime) -> SpecVersion:
    versions = uow.records.find(SpecVersion, site=site, specification=specification)
    spec = version_in_force(versions, at)
    if spec is None:
        raise Conflict(
            f"No version of specification {specification} is in force on {at.isoformat()}; "
            "the lot's sample cannot be bound to it.",
            reason="spec.none_in_force",
            field="received_at",
        )
    return spec


def _lot(uow: UnitOfWork, site: str, code: str) -> ReceivedLot:
    return must_get(uow, ReceivedLot, "lot", "lot", site=site, code=code)


def decide_lot(cmd: DecideLot, uow: UnitOfWork, deps: Deps) -> str:
    """QA's signed disposition: a release only when every required test is Accepted; either
    outcome moves the plan on (a rejection returns it to normal); the lot raises LotDecided,
    which tells the MES."""
    with uow:
        now = deps.clock.now()
        signer = _signer(uow, cmd)
        lot = uow.track(_lot(uow, cmd.site, cmd.lot))
        sample = load_sample(uow, cmd.site, lot.sample)
        if cmd.release:
            check_releasable(lot, sample, uow.records.find(Deviation, site=cmd.site, lot=lot.code))
        status = LotStatus.RELEASED if cmd.release else LotStatus.REJECTED
        lot.decide(status, signer.username, now, cmd.reason)
        subject = ("lot", lot.code, cmd.site)
        record(
            uow,
            cmd.ctx,
            now,
            f"lot.{status.value}",
            subject,
            before={"status": LotStatus.QUARANTINE},
            after=_decision(lot),
            reason=cmd.reason,
        )
        meaning = Meaning.RELEASED if cmd.release else Meaning.REJECTED
        apply_signature(uow, cmd.ctx, now, signer, meaning, subject, lot_content(lot))
        _feed_plan(uow, cmd, lot, now)
        uow.commit()
        return lot.code


def _signer(uow: UnitOfWork, cmd: DecideLot) -> Account:
    action = SignedAction.RELEASE_LOT if cmd.release else SignedAction.REJECT_LOT
    signer, _ = check_signature(uow, cmd.ctx, cmd.signature, Permission.RELEASE_BATCH, action)
    return signer


def check_releasable(lot: ReceivedLot, sample: Sample, deviations: list[Deviation]) -> None:
    """Raise Conflict listing every reason the lot cannot be released yet."""
    if lot.status is not LotStatus.QUARANTINE:
        raise Conflict(
            f"Lot {lot.code} is already {lot.status.value}.",
            reason="lot.already_decided",
            field="lot",
        )
    blockers = release_blockers(sample, deviations)
    if blockers:
        reasons = "; ".join(text for _, text in blockers)
        raise Conflict(
            f"Lot {lot.code} cannot be released: {reasons}.",
            reason=blockers[0][0],
            field="lot",
        )


def _decision(lot: ReceivedLot) -> dict[str, Any]:
    return {"status": lot.status, "decided_by": lot.decided_by, "decided_at": lot.decided_at}


def lot_content(lot: ReceivedLot) -> dict[str, Any]:
    """What a lot's disposition signature binds to."""
    fields = (
        "code",
        "material",
        "supplier",
        "supplier_lot",
        "sample",
        "full_panel",
        "draw",
        "status",
        "decided_by",
        "decided_at",
        "decision_reason",
    )
    content: dict[str, Any] = to_jsonable({name: getattr(lot, name) for name in fields})
    return content


def _feed_plan(uow: UnitOfWork, cmd: DecideLot, lot: ReceivedLot, at: datetime) -> None:
    """The lot's outcome moves its plan on; audited on the plan."""
    plan = load_plan(uow, cmd.site, lot.material, lot.supplier)
    before = {"state": plan.state, "consecutive_accepted": plan.consecutive_accepted}
    plan.record(accepted=cmd.release)
    after = {"state": plan.state, "consecutive_accepted": plan.consecutive_accepted}
    subject = ("skip_lot_plan", plan_id(lot.material, lot.supplier), cmd.site)
    record(
        uow,
        cmd.ctx,
        at,
        "skip_lot_plan.outcome_recorded",
        subject,
        before=before,
        after=after,
        reason=f"lot {lot.code} {lot.status.value}",
    )
