"""Release blockers and review by exception, on plain domain objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fakes import TableUnits
from labgate.domain.deviations import open_oos
from labgate.domain.disposition import release_blockers, review_findings
from labgate.domain.numbers import RoundingRule
from labgate.domain.samples import NewResult, PlannedTest, Sample
from labgate.domain.status_map import StatusMap

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def sample_with(value: str, approve: bool = True) -> Sample:
    """A registered sample of batch B1 with one assay result (NLT 98.0)."""
    sample = Sample("S1", "S-000001", "P1", "SPEC", 1, AT, "mes", batch="B1")
    sample.tests.append(PlannedTest("ASSAY", "M", "1", "NLT 98.0", "%", RoundingRule.USP))
    sample.status = sample.status.REGISTERED
    status_map = StatusMap()
    new = NewResult("S-000001-R1", "ASSAY", value, "%", "1", "ana")
    sample.record_result(new, AT, TableUnits({}), status_map)
    if approve:
        sample.approve_result("S-000001-R1", "rev", AT, status_map)
    return sample


def test_an_accepted_sample_blocks_nothing_and_needs_no_review() -> None:
    sample = sample_with("99.0")
    assert release_blockers([sample], []) == []
    assert review_findings([sample], []) == []


def test_a_rejected_sample_blocks_until_its_deviation_is_closed() -> None:
    sample = sample_with("97.0")
    deviation = open_oos(1, sample, sample.results[0], "rev", AT)
    kinds = [b.kind for b in release_blockers([sample], [deviation])]
    assert kinds == ["release.on_hold", "release.sample_rejected"]
    later = AT + timedelta(hours=1)
    deviation.conclude_phase1("no_assignable_cause", "rev", later, "Method and equipment checked")
    deviation.conclude_phase2("confirmed", "rev", later, "Blend moisture high")
    deviation.close("CAPA-1", "qa", later, "Root cause confirmed")
    assert release_blockers([sample], [deviation]) == []
    [finding] = review_findings([sample], [deviation])
    assert (finding.kind, finding.code) == ("result_out_of_specification", "S-000001-R1")


@pytest.mark.requirement("URS-TX-007", category="negative")
def test_a_preliminary_result_blocks_and_is_listed_with_why() -> None:
    sample = sample_with("99.0", approve=False)
    assert [b.kind for b in release_blockers([sample], [])] == [
        "release.unreviewed_result",
        "release.sample_pending",
    ]
    [finding] = review_findings([sample], [])
    assert finding.as_item() == {
        "kind": "result_preliminary",
        "result": "S-000001-R1",
        "why": "Result S-000001-R1 (ASSAY) is preliminary: not yet reviewed.",
    }
