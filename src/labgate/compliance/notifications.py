"""Alerts for administrators: security events someone must look at (an account locked)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class Notification:
    """One alert, kept for the administrators' list; the audit trail holds the same event."""

    raised_at: datetime
    kind: str
    record_type: str
    record_id: str
    message: str
