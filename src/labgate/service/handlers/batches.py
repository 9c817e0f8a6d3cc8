"""Batch release: the gate that never opens on unreviewed or rejected data (promise 4)."""

from __future__ import annotations

from labgate.compliance.access import Permission
from labgate.compliance.signatures import Meaning
from labgate.domain.batches import Batch, release_content
from labgate.domain.commands import ReleaseBatch
from labgate.domain.deviations import Deviation
from labgate.domain.errors import Conflict, InvalidInput
from labgate.domain.lifecycle import ResultStatus, SampleStatus
from labgate.domain.samples import Sample
from labgate.domain.status_map import MesStatus
from labgate.service.deps import Deps
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.unit_of_work import UnitOfWork


def release_batch(cmd: ReleaseBatch, uow: UnitOfWork, deps: Deps) -> str:
    """QA's signed release, refused while any result is unreviewed, rejected or missing."""
    with uow:
        now = deps.clock.now()
        signer, meaning = check_signature(uow, cmd.ctx, cmd.signature, Permission.RELEASE_BATCH)
        if meaning is not Meaning.RELEASED:
            raise InvalidInput(
                f"A batch release is signed with the meaning 'released', not {meaning.value!r}.",
                reason="signature.wrong_meaning",
                field="signature.meaning",
            )
        batch = must_get(uow, Batch, "batch", "batch", site=cmd.site, code=cmd.batch)
        samples = [
            s
            for s in uow.records.find(Sample, site=cmd.site, batch=batch.code)
            if s.status is not SampleStatus.CANCELLED
        ]
        check_releasable(batch, samples)
        check_not_held(batch, uow.records.find(Deviation, site=cmd.site, batch=batch.code))
        batch.released_by, batch.released_at = signer.username, now
        record(
            uow,
            cmd.ctx,
            now,
            "batch.released",
            ("batch", batch.code, cmd.site),
            after={"released_by": signer.username, "released_at": now},
            reason="e-signature: released",
        )
        content = release_content(batch, (s.code for s in samples))
        apply_signature(
            uow, cmd.ctx, now, signer, meaning, ("batch", batch.code, cmd.site), content
        )
        uow.commit()
        return batch.code


def check_releasable(batch: Batch, samples: list[Sample]) -> None:
    """Raise Conflict naming what stops the release."""
    if batch.released_at is not None:
        raise Conflict(
            f"Batch {batch.code} is already released.",
            reason="release.already_released",
            field="batch",
        )
    if not samples:
        raise Conflict(
            f"Batch {batch.code} has no samples to release on.",
            reason="release.no_samples",
            field="batch",
        )
    for sample in samples:
        for result in sample.results:
            if result.status is ResultStatus.PRELIMINARY:
                raise Conflict(
                    f"Result {result.code} on sample {sample.code} is preliminary; a batch is "
                    "released only on approved results.",
                    reason="release.unreviewed_result",
                    field="batch",
                )
    for sample in samples:
        if sample.mes_status is not MesStatus.ACCEPTED:
            raise Conflict(
                f"Sample {sample.code} is {sample.mes_status.value}; every sample must be "
                "Accepted before release.",
                reason=f"release.sample_{sample.mes_status.value.lower()}",
                field="batch",
            )


def check_not_held(batch: Batch, deviations: list[Deviation]) -> None:
    """Raise Conflict while a deviation on the batch is open: the batch is on hold."""
    for deviation in deviations:
        if deviation.is_open:
            raise Conflict(
                f"Batch {batch.code} is on hold: deviation {deviation.code} is "
                f"{deviation.state.value}; it must be closed before release.",
                reason="release.on_hold",
                field="batch",
            )
