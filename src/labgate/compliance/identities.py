"""People as partner systems name them, mapped to their labgate accounts.

A LIMS reports "jdoe" as a result's analyst and "asmith" as its reviewer; labgate decides
segregation of duties (the reviewer is never the analyst) on accounts, not on those strings. The
integration guide asks for analyst and reviewer ids synchronised across systems: this map is
that synchronisation, governed (each change by an administrator, with a reason, audited), and a
person it does not know is refused, never compared as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["PartnerIdentity"]


@dataclass
class PartnerIdentity:
    """One partner system's id for a person, and the labgate account it is."""

    source: str
    external_id: str
    account: str
    mapped_by: str
    mapped_at: datetime
    reason: str
    active: bool = True
