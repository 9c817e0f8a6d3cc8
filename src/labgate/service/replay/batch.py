"""A batch replayed: every result of every sample, then the samples' MES statuses, the release
checks and the decision, each judged once on the results as stored and once as recomputed, by
the domain code disposition uses (Sample.mes_status, release_blockers, release_content)."""

from __future__ import annotations

from dataclasses import replace

from labgate.compliance.canonical import content_hash
from labgate.compliance.signatures import Meaning, Signature
from labgate.domain.batches import release_content
from labgate.domain.deviations import Deviation
from labgate.domain.disposition import live_samples, release_blockers
from labgate.domain.samples import Sample
from labgate.domain.units import UnitConverter
from labgate.service.replay.records import StatusMaps, StoredBatch
from labgate.service.replay.result import replay_result
from labgate.service.replay.steps import Step, step

UNDISPOSED = "undisposed"


def replay_batch(stored: StoredBatch, units: UnitConverter, rules: StatusMaps) -> list[Step]:
    """Every result's steps, then the batch's: samples, disposition checks, decision."""
    steps: list[Step] = []
    replayed: list[Sample] = []
    for sample in sorted(stored.samples, key=lambda s: s.code):
        results = []
        for result in sample.results:
            replay = replay_result(sample, result.code, stored.versions, units, rules)
            steps += replay.steps
            # A result that cannot be recomputed counts as stored: its own steps say it differs.
            results.append(replay.recomputed or result)
        replayed.append(replace(sample, results=results))
    subject = f"batch {stored.batch.code}"
    steps.append(step(subject, "sample_status", _statuses(stored.samples), _statuses(replayed)))
    as_stored = _blockers(stored.samples, stored.deviations)
    as_replayed = _blockers(replayed, stored.deviations)
    steps.append(step(subject, "disposition_checks", as_stored, as_replayed))
    steps.append(_decision(subject, stored, replayed, not as_replayed["blockers"]))
    return steps


def _statuses(samples: list[Sample]) -> dict[str, str]:
    return {s.code: s.mes_status.value for s in sorted(samples, key=lambda s: s.code)}


def _blockers(samples: list[Sample], deviations: list[Deviation]) -> dict[str, object]:
    found = release_blockers(samples, deviations)
    return {"blockers": [[f.kind, f.about, f.code] for f in found]}


def _decision(subject: str, stored: StoredBatch, replayed: list[Sample], releasable: bool) -> Step:
    """The disposition on record and the content QA's signature bound, against what the replayed
    checks allow and the content the batch's live samples give now."""
    signature = _disposition_signature(stored.signatures)
    decided = UNDISPOSED if signature is None else signature.meaning
    if stored.batch.released_at is not None:
        decided = Meaning.RELEASED.value
    allowed = decided
    if decided == Meaning.RELEASED.value and not (releasable and live_samples(replayed)):
        allowed = "release refused"  # a release the replayed checks would have refused
    codes = [s.code for s in live_samples(replayed)]
    signed = None if signature is None else signature.content_hash
    bound = None if signature is None else content_hash(release_content(stored.batch, codes))
    return step(
        subject,
        "decision",
        {"decision": decided, "signed_content": signed},
        {"decision": allowed, "signed_content": bound},
    )


def _disposition_signature(signatures: list[Signature]) -> Signature | None:
    meanings = (Meaning.RELEASED.value, Meaning.REJECTED.value)
    return next((s for s in reversed(signatures) if s.meaning in meanings), None)
