"""The inbox's streams as operators read them: per (source, stream) the last sequence applied,
the last message taken in, and the messages held waiting for a gap. Each stream costs a few
look-ups on the stream's index (ix_inbox_stream_place), however long its history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t

p, m = t.stream_positions.c, t.inbox_messages.c
# The streams are as many as the partners' channels: a handful, not a growing list.
MAX_STREAMS = 500


def streams(session: Session) -> list[dict[str, Any]]:
    """Every stream, by source then stream, with its last message and its held messages."""
    query = select(p.source, p.stream, p.last_sequence).order_by(p.source, p.stream)
    rows = session.execute(query.limit(MAX_STREAMS)).mappings()
    return [_stream(session, dict(row)) for row in rows]


def _stream(session: Session, row: dict[str, Any]) -> dict[str, Any]:
    place = (m.source == row["source"], m.stream == row["stream"])
    last = (
        session.execute(
            select(m.message_id, m.sequence, m.received_at, m.status, m.schema, m.channel)
            .where(*place)
            .order_by(m.sequence.desc(), m.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    # Held messages are ahead of the position: only that end of the index is read.
    held = session.execute(
        select(func.count(), func.min(m.sequence), func.max(m.sequence)).where(
            *place, m.sequence > row["last_sequence"], m.status == "held"
        )
    ).one()
    return {
        **row,
        "expected_next": int(row["last_sequence"]) + 1,
        "last": None if last is None else dict(last),
        "held": int(held[0] or 0),
        "held_from": held[1],
        "held_to": held[2],
    }
