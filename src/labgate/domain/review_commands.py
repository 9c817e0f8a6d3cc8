"""Commands of a periodic audit-trail review (Annex 11 §9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from labgate.domain.commands import Command, SignatureInput


@dataclass(frozen=True)
class CreateAuditReview(Command):
    """Compute a review of the site's trail for a period ended (UTC, `period_to` exclusive),
    for one source system or all, with a spot-check sample drawn with `seed` (None: a fresh one,
    recorded on the review)."""

    site: str
    period_from: datetime
    period_to: datetime
    source: str | None = None
    seed: int | None = None
    sample_size: int = 5


@dataclass(frozen=True)
class MarkSpotCheck(Command):
    """The reviewer marks one sampled transaction `checked` or `finding`, with a note."""

    site: str
    review: str
    message: int
    mark: str
    note: str


@dataclass(frozen=True)
class SignOffAuditReview(Command):
    """The reviewer signs the review off ("reviewed"), binding the content as recomputed."""

    site: str
    review: str
    comment: str
    signature: SignatureInput
