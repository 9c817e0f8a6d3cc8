"""OOS deviations: investigated in two phases, closed by QA. Every step is signed and audited.
Opening one (for a rejected result) and the hold on its batch or lot while any deviation on it
is open are reactions (`service/reactions/oos.py`)."""

from __future__ import annotations

from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.compliance.signatures import Meaning
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.commands import Command, Context, SignatureInput
from labgate.domain.deviation_commands import CloseDeviation, ConcludePhaseOne, ConcludePhaseTwo
from labgate.domain.deviations import (
    STEP_FIELDS,
    Deviation,
    DeviationState,
    signed_content,
)
from labgate.domain.samples import Sample, result_content
from labgate.service.deps import Deps
from labgate.service.handlers.common import (
    apply_signature,
    check_signature,
    load_sample,
    must_get,
    record,
)
from labgate.service.unit_of_work import UnitOfWork


def conclude_phase_one(cmd: ConcludePhaseOne, uow: UnitOfWork, deps: Deps) -> str:
    """Phase I, signed 'reviewed' by someone other than the analyst: an assignable laboratory
    error invalidates the result (its retest follows); otherwise phase II opens."""
    with uow:
        now = deps.clock.now()
        signer = _signer(
            uow,
            cmd.ctx,
            cmd.signature,
            Permission.INVESTIGATE_DEVIATION,
            SignedAction.INVESTIGATE_PHASE1,
        )
        deviation = _load(uow, cmd.site, cmd.deviation)
        before = _snapshot(deviation, "phase1")
        deviation.conclude_phase1(cmd.conclusion, signer.username, now, cmd.reason)
        if deviation.state is DeviationState.INVALIDATED:
            signer.require(Permission.INVALIDATE_RESULT)
        _step_done(uow, cmd, signer, deviation, "phase1", before, cmd.reason)
        # An EM excursion has no lab result to invalidate and no batch on hold.
        if deviation.state is DeviationState.INVALIDATED and deviation.about_a_result:
            sample = load_sample(uow, cmd.site, deviation.sample)
            _invalidate(uow, cmd.ctx, signer, sample, deviation)
        uow.commit()
        return deviation.code


def conclude_phase_two(cmd: ConcludePhaseTwo, uow: UnitOfWork, deps: Deps) -> str:
    """Phase II, signed 'reviewed': the OOS is confirmed or not, with a rationale."""
    with uow:
        now = deps.clock.now()
        signer = _signer(
            uow,
            cmd.ctx,
            cmd.signature,
            Permission.INVESTIGATE_DEVIATION,
            SignedAction.INVESTIGATE_PHASE2,
        )
        deviation = _load(uow, cmd.site, cmd.deviation)
        before = _snapshot(deviation, "phase2")
        deviation.conclude_phase2(cmd.conclusion, signer.username, now, cmd.rationale)
        _step_done(uow, cmd, signer, deviation, "phase2", before, cmd.rationale)
        uow.commit()
        return deviation.code


def close_deviation(cmd: CloseDeviation, uow: UnitOfWork, deps: Deps) -> str:
    """QA approves the conclusion with an e-signature 'approved' and closes the deviation (the
    hold is lifted, as a reaction, when no other deviation on the batch or lot is open)."""
    with uow:
        now = deps.clock.now()
        signer = _signer(
            uow, cmd.ctx, cmd.signature, Permission.CLOSE_DEVIATION, SignedAction.CLOSE_DEVIATION
        )
        deviation = _load(uow, cmd.site, cmd.deviation)
        before = _snapshot(deviation, "closure")
        deviation.close(cmd.capa, signer.username, now, cmd.reason)
        _step_done(uow, cmd, signer, deviation, "closure", before, cmd.reason)
        uow.commit()
        return deviation.code


def _signer(
    uow: UnitOfWork,
    ctx: Context,
    signature: SignatureInput,
    permission: Permission,
    action: SignedAction,
) -> Account:
    signer, _ = check_signature(uow, ctx, signature, permission, action)
    return signer


def _load(uow: UnitOfWork, site: str, code: str) -> Deviation:
    return uow.track(must_get(uow, Deviation, "deviation", "deviation", site=site, code=code))


def _snapshot(deviation: Deviation, step: str) -> dict[str, object]:
    fields = {name: getattr(deviation, name) for name in STEP_FIELDS[step]}
    return {"state": deviation.state, **fields}


def _step_done(
    uow: UnitOfWork,
    cmd: Command,
    signer: Account,
    deviation: Deviation,
    step: str,
    before: dict[str, object],
    reason: str,
) -> None:
    """Audit the step with before and after, and sign what it concluded."""
    subject = ("deviation", deviation.code, deviation.site)
    at = deviation.closed_at if step == "closure" else getattr(deviation, f"{step}_at")
    assert at is not None  # the step has just set it
    after = _snapshot(deviation, step)
    action = "deviation.closed" if step == "closure" else f"deviation.{step}_concluded"
    record(uow, cmd.ctx, at, action, subject, before=before, after=after, reason=reason)
    meaning = Meaning.APPROVED if step == "closure" else Meaning.REVIEWED
    content = signed_content(deviation, step)
    apply_signature(uow, cmd.ctx, at, signer, meaning, subject, content)


def _invalidate(
    uow: UnitOfWork, ctx: Context, signer: Account, sample: Sample, deviation: Deviation
) -> None:
    """The existing invalidation of a result, for the assignable cause phase I found."""
    at, result = deviation.phase1_at, sample.result(deviation.result)
    assert at is not None
    if not result.active:
        return  # already invalidated by the direct path: the deviation records the finding
    reason = f"{deviation.code} phase I: assignable laboratory error: {deviation.phase1_reason}"
    before = to_jsonable({"status": result.status, "mes_status": result.mes_status})
    sample.invalidate_result(result.code, signer.username, reason, at, uow.status_map(at))
    subject = ("result", result.code, sample.site)
    after = {"status": result.status, "mes_status": result.mes_status}
    record(uow, ctx, at, "result.invalidated", subject, before=before, after=after, reason=reason)
    content = result_content(sample, result)
    apply_signature(uow, ctx, at, signer, Meaning.REVIEWED, subject, content)
