"""Electronic signatures (21 CFR 11.50, 11.70, 11.200): a meaning, a printed name, a UTC time and
the hash of the signed record's canonical content, so a signature cannot move to another record
and shows as broken once its record changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from labgate.compliance.canonical import content_hash


class Meaning(StrEnum):
    """What the signer declares by signing."""

    AUTHORED = "authored"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    RELEASED = "released"
    REJECTED = "rejected"
    INVALIDATED = "invalidated"


@dataclass
class Signature:
    """A signature applied to one record."""

    site: str
    record_type: str
    record_id: str
    signer: str
    printed_name: str
    meaning: Meaning
    signed_at: datetime
    content_hash: str

    def is_valid_for(self, content: dict[str, Any]) -> bool:
        """Whether the record still has exactly the content that was signed."""
        return content_hash(content) == self.content_hash


def sign(
    *,
    site: str,
    record_type: str,
    record_id: str,
    content: dict[str, Any],
    signer: str,
    printed_name: str,
    meaning: Meaning,
    at: datetime,
) -> Signature:
    """Bind a signer's declaration to the hash of a record's canonical content."""
    return Signature(
        site, record_type, record_id, signer, printed_name, meaning, at, content_hash(content)
    )
