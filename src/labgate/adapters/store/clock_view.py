"""What the console, the API and `labgate clock show` say of trusted time: each NTP server's
state, its latest checks, and each source's clock skew as its envelopes show it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t

RECENT_CHECKS = 20


def clock_overview(session: Session, recent: int = RECENT_CHECKS) -> dict[str, Any]:
    """States (one per server), the newest `recent` checks (newest first, found by index) and
    the skew of every source that sent an applied message."""
    s, c, k = t.clock_states.c, t.clock_checks.c, t.source_clock_skew.c
    states = [
        dict(row._mapping) for row in session.execute(select(t.clock_states).order_by(s.server))
    ]
    checks = [
        dict(row._mapping)
        for row in session.execute(
            select(t.clock_checks).order_by(c.checked_at.desc(), c.id.desc()).limit(recent)
        )
    ]
    sources = []
    for row in session.execute(select(t.source_clock_skew).order_by(k.source)):
        fields = dict(row._mapping)
        fields["mean_ms"] = round(fields.pop("total_ms") / fields["messages"], 1)
        sources.append(fields)
    return {"states": states, "checks": checks, "sources": sources}
