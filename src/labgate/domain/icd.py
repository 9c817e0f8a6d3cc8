"""A version of the Interface Control Document: its content as generated from the configuration
in force, the SHA-256 of that content's canonical bytes, and its approval. Draft → Approved →
Superseded (by the next approved version); the version approved last is the one in force."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from labgate.domain.errors import SegregationOfDuties
from labgate.domain.lifecycle import TransitionTable


class IcdStatus(StrEnum):
    """Where an ICD version is in its approval."""

    DRAFT = "draft"
    APPROVED = "approved"
    SUPERSEDED = "superseded"


ICD_LIFECYCLE = TransitionTable(
    "icd",
    {
        IcdStatus.DRAFT: frozenset({IcdStatus.APPROVED, IcdStatus.SUPERSEDED}),
        IcdStatus.APPROVED: frozenset({IcdStatus.SUPERSEDED}),
        IcdStatus.SUPERSEDED: frozenset(),
    },
)


@dataclass
class IcdVersion:
    """One version of a site's ICD."""

    site: str
    version: int
    sha256: str
    generated_at: datetime
    generated_by: str
    content: dict[str, Any] = field(default_factory=dict)
    status: IcdStatus = IcdStatus.DRAFT
    approved_by: str | None = None
    approved_at: datetime | None = None

    def approve(self, approver: str, at: datetime) -> None:
        """QA approves it; whoever had it generated does not (guide §07, as for specs)."""
        if approver == self.generated_by:
            raise SegregationOfDuties(
                f"{approver} generated ICD version {self.version} and cannot also approve it.",
                reason="icd.approver_is_generator",
                field="approver",
            )
        ICD_LIFECYCLE.check(f"version {self.version}", self.status, IcdStatus.APPROVED)
        self.status, self.approved_by, self.approved_at = IcdStatus.APPROVED, approver, at

    def supersede(self) -> None:
        """A later version was approved (or a later draft replaced this draft)."""
        ICD_LIFECYCLE.check(f"version {self.version}", self.status, IcdStatus.SUPERSEDED)
        self.status = IcdStatus.SUPERSEDED
