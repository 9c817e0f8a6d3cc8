"""Answers about periodic audit-trail reviews: the list with the overdue periods, one review
with its categories, spot check and sign-off."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from labgate.compliance.audit_review import ReviewState
from labgate.compliance.trail_categories import Category
from labgate.entrypoints.api.answers.samples import SignatureRecord
from labgate.entrypoints.api.wire import Answer, Code, Count, Hash, UtcTime


class ReviewedEntry(Answer):
    """One audit entry of the period, as the review lists it."""

    seq: Count
    at: UtcTime
    actor: str
    actor_kind: str
    action: str
    record_type: str
    record_id: str
    site: str | None
    reason: str = Field(description="The entry's reason, cut at 300 characters.")
    reason_code: str | None = Field(description="A refusal's reason code.")
    interface: str | None = Field(description="The source system the entry belongs to, if any.")
    category: Category


class CategoryFindings(Answer):
    """One category: every entry counted, the first `listed_at_most` listed."""

    category: Category
    title: str
    count: Count
    entries: list[ReviewedEntry]
    by_reason: dict[str, Count] = Field(description="Refusals and failed sign-ins by reason.")
    digest: Hash = Field(description="SHA-256 over the seals of every entry counted, in order.")


class SpotTrail(Answer):
    """An audit entry written under a sampled message's correlation id."""

    seq: Count
    action: str
    record_type: str
    record_id: str


class SpotItem(Answer):
    """One sampled interfaced transaction and the reviewer's mark."""

    message: Count = Field(description="The inbox row's number: what a mark names.")
    source: str
    channel: str
    message_id: str
    schema_: str = Field(alias="schema")
    stream: str
    sequence: Count
    correlation_id: str | None
    applied_at: UtcTime
    payload_hash: Hash
    trail: list[SpotTrail]
    mark: Literal["checked", "finding"] | None
    note: str | None
    marked_by: str | None = None
    marked_at: UtcTime | None = None


class AuditReviewItem(Answer):
    """A review as listed."""

    site: Code
    code: Code
    state: ReviewState
    period_from: UtcTime
    period_to: UtcTime = Field(description="The end of the period, exclusive.")
    source: str | None = Field(description="The one interface reviewed; null: all.")
    seed: Count = Field(description="The spot check's seed: the same seed draws the same sample.")
    created_by: str
    created_at: UtcTime
    content_hash: Hash = Field(description="SHA-256 of the computed content the sign-off binds.")
    total: Count
    counts: dict[str, Count]
    sampled: Count
    unmarked: Count
    signed_by: str | None
    signed_at: UtcTime | None


class AuditReviewView(AuditReviewItem):
    """A review whole."""

    categories: list[CategoryFindings]
    by_interface: dict[str, dict[str, Count]]
    listed_at_most: Count
    privileged_actors: list[str]
    sample: list[SpotItem]
    comment: str | None
    signatures: list[SignatureRecord]


class OverduePeriod(Answer):
    """A calendar month no signed-off review of all interfaces covers, past its due date."""

    period_from: UtcTime
    period_to: UtcTime
    due: UtcTime


class AuditReviewList(Answer):
    """The site's reviews, newest first, and the overdue periods."""

    review_days: int = Field(ge=0, le=2**31 - 1, description="LABGATE_AUDIT_REVIEW_DAYS.")
    overdue: list[OverduePeriod]
    reviews: list[AuditReviewItem]
