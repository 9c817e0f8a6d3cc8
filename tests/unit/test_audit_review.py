"""The review aggregate's own rules: marks, and who may sign it off over which content."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from labgate.compliance.audit_review import AuditReview, ReviewState, hash_of, review_content
from labgate.domain.errors import Conflict, InvalidInput, SegregationOfDuties

AT = datetime(2026, 12, 2, tzinfo=UTC)
PERIOD = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def review(privileged: list[str], sample: list[dict[str, Any]]) -> AuditReview:
    findings = {"categories": {}, "privileged_actors": privileged}
    content = review_content("T1", PERIOD, None, 7, findings, sample)
    return AuditReview("T1", "AR-000001", *PERIOD, None, 7, "qa", AT, findings, sample,
                       hash_of(content))  # fmt: skip


def test_marks_do_not_change_the_content_hash() -> None:
    drawn = [{"message": 3, "mark": None, "note": None}]
    made = review([], drawn)
    made.mark(3, "checked", "ok", "qa", AT)
    again = review_content("T1", PERIOD, None, 7, made.findings, made.sample)
    assert hash_of(again) == made.content_hash
    with pytest.raises(InvalidInput, match="not in the spot-check sample"):
        made.mark(4, "checked", "", "qa", AT)


@pytest.mark.requirement("URS-A11-11", category="negative")
def test_who_took_privileged_actions_does_not_sign_their_review() -> None:
    made = review(["qa"], [])
    with pytest.raises(SegregationOfDuties) as refused:
        made.sign_off("qa", AT, "reviewed the month", made.content_hash)
    assert refused.value.reason == "audit_review.reviewer_reviews_self"
    made.sign_off("qa2", AT, "reviewed the month", made.content_hash)
    assert made.state is ReviewState.SIGNED_OFF
    with pytest.raises(Conflict, match="signed off"):
        made.sign_off("qa2", AT, "again", made.content_hash)


def test_a_changed_trail_refuses_the_sign_off() -> None:
    made = review([], [])
    with pytest.raises(Conflict) as refused:
        made.sign_off("qa", AT, "reviewed the month", "0" * 64)
    assert refused.value.reason == "audit_review.trail_changed"
