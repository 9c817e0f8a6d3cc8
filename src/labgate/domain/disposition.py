"""QA disposition of a batch: what stops a release, and review by exception.

A batch may be released when every live (not cancelled) sample is Accepted, or is not but has
a deviation QA closed, and nothing is preliminary or under open investigation. Review by
exception lists every record a reviewer must look at, each with why; none means the batch is
ready by exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from labgate.domain.deviations import Deviation, DeviationState
from labgate.domain.lifecycle import ResultStatus, SampleStatus, TestStatus
from labgate.domain.samples import Result, Sample
from labgate.domain.status_map import MesStatus


@dataclass(frozen=True)
class Finding:
    """One thing about a batch that needs a person: what kind, which record, and why."""

    kind: str
    about: str  # "sample", "result", "deviation", "batch" or "signature"
    code: str
    why: str

    def as_item(self) -> dict[str, str]:
        """The finding as the API shows it: `{"kind", <about>: code, "why"}`."""
        return {"kind": self.kind, self.about: self.code, "why": self.why}


def live_samples(samples: Iterable[Sample]) -> list[Sample]:
    """The samples that count for the batch, by code: all but the cancelled ones."""
    return sorted((s for s in samples if s.status is not SampleStatus.CANCELLED),
                  key=lambda s: s.code)  # fmt: skip


def release_blockers(samples: Iterable[Sample], deviations: Iterable[Deviation]) -> list[Finding]:
    """Every reason the batch cannot be released, in a fixed order; kinds are reason codes."""
    live, found = live_samples(samples), list(deviations)
    blockers = [
        Finding(
            "release.unreviewed_result",
            "result",
            r.code,
            f"Result {r.code} on sample {s.code} is preliminary; a batch is released only "
            "on approved results.",
        )
        for s in live
        for r in s.results
        if r.status is ResultStatus.PRELIMINARY
    ]
    blockers += [
        Finding(
            "release.on_hold",
            "deviation",
            d.code,
            f"Deviation {d.code} on sample {d.sample} is {d.state.value}; it must be closed "
            "before release.",
        )
        for d in found
        if d.is_open
    ]
    for sample in live:
        status = sample.mes_status
        closed = [d for d in found if d.sample == sample.code and d.state is DeviationState.CLOSED]
        if status is not MesStatus.ACCEPTED and not closed:
            blockers.append(
                Finding(
                    f"release.sample_{status.value.lower()}",
                    "sample",
                    sample.code,
                    f"Sample {sample.code} is {status.value} and has no closed deviation; "
                    "every sample must be Accepted, or its deviation closed by QA.",
                )
            )
        elif status is not MesStatus.ACCEPTED:
            blockers += [
                Finding(
                    "release.result_missing",
                    "sample",
                    sample.code,
                    f"Test {t.test_code} of sample {sample.code} has no approved result.",
                )
                for t in sample.tests
                if t.status is not TestStatus.CANCELLED and not _approved(sample, t.test_code)
            ]
    return blockers


def _approved(sample: Sample, test_code: str) -> bool:
    result = sample.active_result(test_code)
    return result is not None and result.status is ResultStatus.APPROVED


def review_findings(samples: Iterable[Sample], deviations: Iterable[Deviation]) -> list[Finding]:
    """What the records themselves say needs review (signatures and the trail are added by the
    store, which can check them)."""
    findings: list[Finding] = []
    for sample in sorted(samples, key=lambda s: s.code):
        findings += _sample_findings(sample)
    findings += [
        Finding(
            "deviation_open",
            "deviation",
            d.code,
            f"Deviation {d.code} on result {d.result} is {d.state.value}.",
        )
        for d in deviations
        if d.is_open
    ]
    return findings


def _sample_findings(sample: Sample) -> list[Finding]:
    if sample.status is SampleStatus.CANCELLED:
        why = f"Sample {sample.code} was cancelled: {sample.cancel_reason}."
        return [Finding("sample_cancelled", "sample", sample.code, why)]
    findings = []
    if sample.status is SampleStatus.REQUESTED:
        why = f"Sample {sample.code} was requested but never registered by the lab."
        findings.append(Finding("sample_not_registered", "sample", sample.code, why))
    for test in sample.tests:
        if test.status is not TestStatus.CANCELLED and sample.active_result(test.test_code) is None:
            why = f"Test {test.test_code} of sample {sample.code} has no result."
            findings.append(Finding("result_missing", "sample", sample.code, why))
    for result in sample.results:
        findings += _result_findings(result)
    return findings


def _result_findings(result: Result) -> list[Finding]:
    def finding(kind: str, why: str) -> Finding:
        return Finding(
            kind, "result", result.code, f"Result {result.code} ({result.test_code}) {why}"
        )

    findings = []
    if result.status is ResultStatus.PRELIMINARY:
        findings.append(finding("result_preliminary", "is preliminary: not yet reviewed."))
    if result.status is ResultStatus.INVALIDATED:
        retest = f"; retest {result.superseded_by}" if result.superseded_by else "; no retest yet"
        why = f"was invalidated: {result.invalidation_reason}{retest}."
        findings.append(finding("result_invalidated", why))
    if result.supersedes:
        findings.append(finding("result_retest", f"is the retest of {result.supersedes}."))
    if result.status is ResultStatus.APPROVED and result.conforms is False:
        # The limit set is named: an IPC limit missed is not a release specification missed.
        why = f"{result.reported_value} is outside {result.limit_set}."
        findings.append(finding("result_out_of_specification", why))
    if result.band in ("alert", "action"):
        why = f"{result.reported_value} is beyond its {result.band} limit."
        findings.append(finding(f"result_{result.band}_band", why))
    return findings
