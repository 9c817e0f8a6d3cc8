"""Audit entries as people read them: the time at the entry's site and the actor's printed name
beside the sealed values, which stay exactly as they are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import Reader, readable, site_zone
from labgate.adapters.store.lists import Direction, Slice
from labgate.compliance.canonical import to_jsonable

# The recorded change is shown as sealed: names or local times added inside it would be read as
# part of what the record held.
RECORDED = ("before", "after")


def readable_entries(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each entry (a stored row, JSON-ready) with `at_local`, `at` in its own site's time zone
    (UTC for an entry of no site), and `actor_name`, the actor's printed name (None for an id
    with no account). Every stored value is kept as it is."""
    by_site: dict[str | None, list[int]] = {}
    for index, row in enumerate(rows):
        by_site.setdefault(row["site"], []).append(index)
    shown: list[dict[str, Any]] = [{} for _ in rows]
    for site, indexes in by_site.items():
        zone = "UTC" if site is None else site_zone(session, site)
        heads = [{k: v for k, v in rows[i].items() if k not in RECORDED} for i in indexes]
        for index, head in zip(indexes, readable(session, site or "", heads), strict=True):
            row = rows[index]
            shown[index] = head | {
                "at_local": Reader(zone).at(row["at"]),
                **{key: row[key] for key in RECORDED if key in row},
            }
    return shown


def take_entries(
    session: Session, query: Select[Any], after: int | None, limit: int, direction: Direction
) -> Slice:
    """One page of the entries a query selects, by chain position (`seq`) after `after` in
    `direction`: the chain only grows at its end, so pages never shift or repeat an entry."""
    seq = t.audit_entries.c.seq
    if after is not None:
        query = query.where(seq < after if direction == "newest" else seq > after)
    query = query.order_by(None).order_by(seq.desc() if direction == "newest" else seq.asc())
    rows = [to_jsonable(dict(r)) for r in session.execute(query.limit(limit + 1)).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return Slice(rows, int(rows[-1]["seq"]) if more else None)
