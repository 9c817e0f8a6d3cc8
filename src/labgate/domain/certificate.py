"""The Certificate of Analysis of a batch: what it states, and when it may be issued.

A CoA certifies release testing: it states, for every live sample judged by the release limit
set, every planned test with the specification version, the method and its version, the limit
bound at sampling time, the reported result and whether it conforms, who measured and who
approved it. In-process samples (judged by an IPC limit set at their sampling point) are not
release tests and are not listed as if they were; they stand in the batch dossier under their
sampling point and limit set. It is issued only from reviewed data (promise 4): every planned
release test needs an approved, active result; otherwise the refusal lists what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from labgate.domain.batches import Batch
from labgate.domain.errors import Conflict
from labgate.domain.lifecycle import ResultStatus, SampleStatus
from labgate.domain.numbers import to_plain
from labgate.domain.samples import Sample
from labgate.domain.sampling import RELEASE_SET


class CertificateIncomplete(Conflict):
    """A planned test of the batch has no approved result yet."""

    default_reason = "coa.incomplete"


def certificate_content(batch: Batch, samples: Iterable[Sample]) -> dict[str, Any]:
    """The CoA's data, JSON-shaped and in a fixed order: the same records give the same bytes."""
    live = sorted((s for s in samples if s.status is not SampleStatus.CANCELLED
                   and s.limit_set == RELEASE_SET), key=lambda s: s.code)  # fmt: skip
    if not live:
        raise CertificateIncomplete(
            f"Batch {batch.code} has no release samples to certify; in-process samples are "
            "shown in the batch dossier, not on the CoA.",
            field="batch",
        )
    missing = [
        f"{s.code}/{t.test_code}"
        for s in live
        for t in s.tests
        if _reported(s, t.test_code) is None
    ]
    if missing:
        raise CertificateIncomplete(
            f"Batch {batch.code} cannot be certified yet: no approved result for "
            f"{', '.join(missing)}.",
            field="batch",
        )
    return {
        "document": "Certificate of Analysis",
        "site": batch.site,
        "batch": batch.code,
        "product": batch.product,
        "procedure": batch.procedure,
        "specifications": sorted({s.spec_ref for s in live}),
        "released_by": batch.released_by,
        "released_at": batch.released_at,
        "samples": [_sample(s) for s in live],
        "conclusion": conclusion(batch.code, live),
    }


def conclusion(batch: str, live: list[Sample]) -> dict[str, Any]:
    """What the CoA concludes: the batch conforms to each specification version its release
    samples were bound to only when every reported result conforms; otherwise the statement
    names each result that does not (or that no limit judged)."""
    refs = sorted({(s.specification, s.spec_version) for s in live})
    against = " and ".join(f"specification {spec} version {version}" for spec, version in refs)
    failing = [
        f"{s.code}/{t.test_code}"
        for s in live
        for t in s.tests
        if (result := _reported(s, t.test_code)) is not None and result.conforms is not True
    ]
    if not failing:
        return {"conforms": True, "statement": f"Batch {batch} conforms to {against}."}
    statement = f"Batch {batch} does not conform to {against}: {', '.join(failing)}."
    return {"conforms": False, "statement": statement}


def _reported(sample: Sample, test_code: str) -> Any:
    result = sample.active_result(test_code)
    if result is None or result.status is not ResultStatus.APPROVED:
        return None
    return result


def _sample(sample: Sample) -> dict[str, Any]:
    lines = []
    for test in sample.tests:
        result = _reported(sample, test.test_code)
        value = (
            result.raw_value if result.reported_value is None else to_plain(result.reported_value)
        )
        lines.append(
            {
                "test_code": test.test_code,
                "method": test.method,
                "method_version": result.method_version,
                "limit": test.limit,
                "result": value,
                "unit": result.canonical_unit or result.raw_unit,
                "conforms": result.conforms,
                "result_code": result.code,
                "analyst": result.analyst,
                "reviewer": result.reviewer,
                "approved_at": result.approved_at,
                "retest_of": result.supersedes,
            }
        )
    return {
        "sample": sample.code,
        "sampling_point": sample.sampling_point,
        "sampled_at": sample.sampled_at,
        "specification": sample.spec_ref,
        "lims_sample_id": sample.lims_sample_id,
        "tests": lines,
    }
