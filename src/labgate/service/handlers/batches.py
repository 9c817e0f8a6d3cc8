"""Batch release: the gate that never opens on unreviewed or rejected data (promise 4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from labgate.compliance.access import Account, Permission
from labgate.compliance.signatures import Meaning, Signature
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.batches import Batch, release_content
from labgate.domain.commands import Context, RejectBatch, ReleaseBatch
from labgate.domain.deviations import Deviation
from labgate.domain.disposition import Finding, live_samples, release_blockers
from labgate.domain.errors import Conflict, LabgateError
from labgate.domain.reasons import require_reason
from labgate.domain.samples import Sample
from labgate.service.deps import Deps
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.unit_of_work import UnitOfWork


def release_batch(cmd: ReleaseBatch, uow: UnitOfWork, deps: Deps) -> str:
    """QA's signed release, refused (naming every sample and why) while any result is
    unreviewed, a deviation is open, or a sample is not Accepted and has no closed deviation."""
    with uow:
        now = deps.clock.now()
        signer, _ = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.RELEASE_BATCH, SignedAction.RELEASE_BATCH
        )
        batch, samples = check_release(uow, cmd.site, cmd.batch, now)
        batch.released_by, batch.released_at = signer.username, now
        why = "e-signature: released"
        _dispose(uow, cmd.ctx, now, signer, Meaning.RELEASED, batch, samples, why)
        uow.commit()
        return batch.code


def check_release(
    uow: UnitOfWork, site: str, code: str, now: datetime
) -> tuple[Batch, list[Sample]]:
    """The batch and the live samples its release is judged on; raise as the release is then
    refused (unknown, already disposed, no samples, blockers), the signature apart."""
    batch, samples, blockers = _release_standing(uow, site, code, now)
    check_releasable(batch, samples, blockers)
    return batch, samples


def _release_standing(
    uow: UnitOfWork, site: str, code: str, now: datetime
) -> tuple[Batch, list[Sample], list[Finding]]:
    batch = must_get(uow, Batch, "batch", "batch", site=site, code=code)
    check_undisposed(uow, batch)
    samples = live_samples(uow.records.find(Sample, site=site, batch=batch.code))
    deviations = uow.records.find(Deviation, site=site, batch=batch.code)
    # An open EM deviation of a room the batch was in stops its release like its own.
    return (
        batch,
        samples,
        release_blockers(samples, deviations + uow.deviations_reaching(batch, now)),
    )


@dataclass(frozen=True)
class DispositionCheck:
    """What a release and a rejection of a batch would be refused with now, the signature apart
    (None: the handler would take it), and every blocker of the release in the handler's order."""

    release: LabgateError | None
    rejection: LabgateError | None
    blockers: tuple[Finding, ...] = ()


def disposition_standing(uow: UnitOfWork, site: str, code: str, now: datetime) -> DispositionCheck:
    """The release and rejection handlers' own checks, read without signing, in a unit of work
    the caller opened for reading (a page reads the batch with it): the console offers an action
    only when its handler would take it, and otherwise says why."""
    try:
        batch, samples, blockers = _release_standing(uow, site, code, now)
    except LabgateError as error:  # unknown or already disposed: refused to both
        return DispositionCheck(error, error)
    try:
        check_releasable(batch, samples, blockers)
    except LabgateError as error:
        return DispositionCheck(error, None, tuple(blockers))
    return DispositionCheck(None, None)


def reject_batch(cmd: RejectBatch, uow: UnitOfWork, deps: Deps) -> str:
    """QA's signed rejection of a batch, with a reason; once, and never after a release."""
    reason = require_reason(cmd.reason, what="Rejecting a batch")
    with uow:
        now = deps.clock.now()
        signer, _ = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.RELEASE_BATCH, SignedAction.REJECT_BATCH
        )
        batch = must_get(uow, Batch, "batch", "batch", site=cmd.site, code=cmd.batch)
        check_undisposed(uow, batch)
        samples = live_samples(uow.records.find(Sample, site=cmd.site, batch=batch.code))
        _dispose(uow, cmd.ctx, now, signer, Meaning.REJECTED, batch, samples, reason)
        uow.commit()
        return batch.code


def _dispose(
    uow: UnitOfWork,
    ctx: Context,
    now: datetime,
    signer: Account,
    meaning: Meaning,
    batch: Batch,
    samples: list[Sample],
    reason: str,
) -> None:
    """Audit and sign (binding the batch and the samples it was judged on); the batch raises
    BatchDisposed, which tells the MES."""
    subject = ("batch", batch.code, batch.site)
    after = {f"{meaning.value}_by": signer.username, f"{meaning.value}_at": now}
    record(uow, ctx, now, f"batch.{meaning.value}", subject, after=after, reason=reason)
    content = release_content(batch, (s.code for s in samples))
    apply_signature(uow, ctx, now, signer, meaning, subject, content)
    uow.track(batch).dispose(meaning.value, signer.username, now, reason, (s.code for s in samples))


def check_undisposed(uow: UnitOfWork, batch: Batch) -> None:
    """Raise Conflict if QA already released or rejected the batch: disposition happens once."""
    if batch.released_at is not None:
        raise Conflict(
            f"Batch {batch.code} is already released.",
            reason="release.already_released",
            field="batch",
        )
    signed = uow.records.find(Signature, site=batch.site, record_type="batch", record_id=batch.code)
    if any(s.meaning == Meaning.REJECTED.value for s in signed):
        raise Conflict(
            f"Batch {batch.code} is already rejected.",
            reason="release.already_rejected",
            field="batch",
        )


def check_releasable(batch: Batch, samples: list[Sample], blockers: list[Finding]) -> None:
    """Raise Conflict naming every sample and why it stops the release; the reason code is the
    first blocker's."""
    if not samples:
        raise Conflict(
            f"Batch {batch.code} has no samples to release on.",
            reason="release.no_samples",
            field="batch",
        )
    if blockers:
        whys = " ".join(f"{b.why.rstrip('.')} ({b.kind})." for b in blockers)
        raise Conflict(
            f"Batch {batch.code} cannot be released: {whys}", reason=blockers[0].kind, field="batch"
        )
