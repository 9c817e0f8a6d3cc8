"""A periodic review of the audit trail (EU GMP Annex 11 §9, §11): for one site, a period
(UTC, its end exclusive) and one interface or all, the trail's entries by category, a seeded
spot-check sample of interfaced transactions, the reviewer's marks, and a sign-off that binds the
hash of the content as computed. Draft → signed off; nothing changes after the sign-off."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from labgate.compliance.canonical import content_hash
from labgate.compliance.clock import iso_utc
from labgate.domain.errors import Conflict, InvalidInput, SegregationOfDuties

MARKS = ("checked", "finding")


class ReviewState(StrEnum):
    """Where a review is."""

    DRAFT = "draft"
    SIGNED_OFF = "signed_off"


@dataclass
class AuditReview:
    """One periodic review: what the trail held for the period, and the reviewer's verdict."""

    site: str
    code: str
    period_from: datetime
    period_to: datetime
    source: str | None  # one interface (source system), or None for all
    seed: int
    created_by: str
    created_at: datetime
    findings: dict[str, Any]
    sample: list[dict[str, Any]]
    content_hash: str
    state: ReviewState = ReviewState.DRAFT
    comment: str | None = None
    signed_by: str | None = None
    signed_at: datetime | None = None
    events: list[Any] = field(default_factory=list, compare=False, repr=False)

    def mark(self, message: int, mark: str, note: str, by: str, at: datetime) -> dict[str, Any]:
        """Mark one sampled transaction checked or a finding, with a note; returns it."""
        self._require_draft("mark its spot check")
        if mark not in MARKS:
            raise InvalidInput(
                f"A spot-check mark is one of {', '.join(MARKS)}, not {mark!r}.",
                reason="audit_review.bad_mark", field="mark",
            )  # fmt: skip
        if mark == "finding" and not note.strip():
            raise InvalidInput(
                "A finding needs a note saying what was found.",
                reason="audit_review.note_required", field="note",
            )  # fmt: skip
        items = [dict(i) for i in self.sample]
        found = next((i for i in items if i["message"] == message), None)
        if found is None:
            raise InvalidInput(
                f"Message {message} is not in the spot-check sample of review {self.code}.",
                reason="audit_review.not_sampled", field="message",
            )  # fmt: skip
        found.update(mark=mark, note=note.strip(), marked_by=by, marked_at=iso_utc(at))
        self.sample = items  # a new list: the store sees the change
        return found

    def sign_off(self, by: str, at: datetime, comment: str, recomputed_hash: str) -> None:
        """Close the review; refused while a sampled item is unmarked or if the trail no
        longer gives the content computed at creation."""
        self._require_draft("be signed off")
        unmarked = [str(i["message"]) for i in self.sample if not i.get("mark")]
        if unmarked:
            raise Conflict(
                f"Mark every sampled transaction before signing off; unmarked: "
                f"{', '.join(unmarked)}.",
                reason="audit_review.spot_check_unmarked", field="sample",
            )  # fmt: skip
        if recomputed_hash != self.content_hash:
            raise Conflict(
                f"The audit trail of {self.code}'s period no longer gives the content it was "
                "computed with (an entry of the period was altered or added); the review cannot "
                "be signed off. Run `labgate audit verify` and open a deviation.",
                reason="audit_review.trail_changed", field="content_hash",
            )  # fmt: skip
        privileged = set(self.findings.get("privileged_actors", []))
        if by in privileged:
            raise SegregationOfDuties(
                f"{by} took privileged actions in this period; another reviewer signs it off.",
                reason="audit_review.reviewer_reviews_self", field="signature.username",
            )  # fmt: skip
        self.state, self.signed_by, self.signed_at = ReviewState.SIGNED_OFF, by, at
        self.comment = comment

    def signed_content(self) -> dict[str, Any]:
        """What the reviewer's signature binds: the content hash, the marks, the comment."""
        return {"review": self.code, "site": self.site, "content_hash": self.content_hash,
                "sample": self.sample, "comment": self.comment}  # fmt: skip

    def _require_draft(self, what: str) -> None:
        if self.state is not ReviewState.DRAFT:
            raise Conflict(
                f"Review {self.code} is signed off; it cannot {what}.",
                reason="audit_review.signed_off", field="review",
            )  # fmt: skip


def review_content(
    site: str,
    period: tuple[datetime, datetime],
    source: str | None,
    seed: int,
    findings: dict[str, Any],
    sample: list[dict[str, Any]],
) -> dict[str, Any]:
    """The computed content whose hash the sign-off binds (the sample without its marks)."""
    drawn = [{k: v for k, v in i.items() if k not in ("mark", "note", "marked_by", "marked_at")}
             for i in sample]  # fmt: skip
    return {"site": site, "from": iso_utc(period[0]), "to": iso_utc(period[1]),
            "source": source, "seed": seed, "findings": findings, "sample": drawn}  # fmt: skip


def hash_of(content: dict[str, Any]) -> str:
    """The SHA-256 of the content's canonical JSON."""
    return content_hash(content)
