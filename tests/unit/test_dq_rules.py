"""The data-quality rules judged on their measures, and the deviation a breach opens: pure."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from labgate.domain.data_quality import (
    BY_ID,
    RULES,
    Dimension,
    DqRule,
    DqStatus,
    Measure,
    Severity,
    judge,
    open_dq_deviation,
)
from labgate.domain.errors import InvalidInput

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SHARE = DqRule("DQ-T-1", Dimension.TIMELINESS, "t", "t", Severity.MINOR, "result",
               max_failing=1, max_percent=Decimal("5"))  # fmt: skip


def test_every_dimension_has_a_rule_and_ids_are_unique() -> None:
    assert {r.dimension for r in RULES} == set(Dimension)
    assert len(BY_ID) == len(RULES)


@pytest.mark.parametrize(
    ("failing", "population", "status"),
    [
        (0, 0, DqStatus.PASS),
        (1, 10, DqStatus.PASS),  # within the count allowed
        (2, 100, DqStatus.PASS),  # over the count, 2 % of the population: within 5 %
        (5, 100, DqStatus.PASS),  # exactly 5 %: not more than the threshold
        (6, 100, DqStatus.BREACH),
        (2, 10, DqStatus.BREACH),
    ],
)
def test_a_percentage_threshold_needs_both_the_count_and_the_share_exceeded(
    failing: int, population: int, status: DqStatus
) -> None:
    assert judge(SHARE, Measure(failing, population)).status is status


def test_a_count_threshold_breaches_on_the_first_record_over_it() -> None:
    rule = BY_ID["DQ-VALID-001"]
    assert rule.threshold == "at most 0 failing"
    assert judge(rule, Measure(0, 6)).status is DqStatus.PASS
    assert judge(rule, Measure(1, 6, ("SPEC-A/v1/release/ASSAY",))).status is DqStatus.BREACH


def test_a_breach_opens_a_data_quality_deviation_closed_only_with_a_capa() -> None:
    verdict = judge(BY_ID["DQ-VALID-002"], Measure(1, 2, ("LIMS/test/X",)))
    deviation = open_dq_deviation(7, "T1", verdict, "qa", AT)
    assert (deviation.code, deviation.kind, deviation.sample) == (
        "DEV-000007", "data_quality", "DQ-VALID-002"
    )  # fmt: skip
    assert not deviation.about_a_result and deviation.batch is None
    assert "1 of 2 failing" in deviation.reason and "LIMS/test/X" in deviation.reason
    with pytest.raises(InvalidInput) as refused:
        deviation.conclude_phase1("assignable_cause", "reviewer", AT, "the alias was mistyped")
    assert refused.value.reason == "deviation.dq_not_invalidated"
    deviation.conclude_phase1("no_assignable_cause", "reviewer", AT, "the import had no check")
    deviation.conclude_phase2("not_confirmed", "reviewer", AT, "a one-off manual edit")
    with pytest.raises(InvalidInput) as missing:
        deviation.close(" ", "qa2", AT, "the alias is corrected")
    assert missing.value.reason == "deviation.capa_required"
    deviation.close("CAPA-1", "qa2", AT, "the alias is corrected")
    assert (deviation.state.value, deviation.capa) == ("closed", "CAPA-1")
