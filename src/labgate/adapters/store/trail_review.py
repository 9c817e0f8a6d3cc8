"""What a periodic audit-trail review reads from the store: the period's entries for a site (and
the entries of no site: accounts, keys, sign-ins), one pass in pages of seq, each put in its
category and tied to its interface; and the seeded spot-check sample of messages applied."""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.compliance.clock import iso_utc
from labgate.compliance.trail_categories import Category, category_of

a, m = t.audit_entries.c, t.inbox_messages.c
PAGE = 500
LISTED = 200  # entries listed per category; the count and the digest cover every one
TRAIL_OF_ITEM = 20  # audit entries shown per sampled message


def trail_findings(
    session: Session, site: str, period: tuple[datetime, datetime], source: str | None
) -> dict[str, Any]:
    """Counts, listed entries and a digest of every entry's seal, per category; counts per
    interface; and who took the privileged actions."""
    sources = _known_sources(session)
    counts: Counter[str] = Counter()
    listed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seals: dict[str, Any] = {c.value: hashlib.sha256() for c in Category}
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    by_interface: dict[str, Counter[str]] = defaultdict(Counter)
    privileged: set[str] = set()
    for entry in _entries(session, site, period, sources):
        if source is not None and entry["interface"] != source:
            continue
        category = entry["category"]
        counts[category] += 1
        seals[category].update(entry.pop("hash").encode())
        if len(listed[category]) < LISTED:
            listed[category].append(entry)
        if entry["reason_code"] and category in (Category.REFUSAL, Category.FAILED_SIGN_IN):
            reasons[category][entry["reason_code"]] += 1
        if entry["interface"]:
            by_interface[entry["interface"]][category] += 1
        if category == Category.PRIVILEGED:
            privileged.add(entry["actor"])
    categories = {
        c.value: {"count": counts[c.value], "entries": listed[c.value],
                  "by_reason": dict(sorted(reasons[c.value].items())),
                  "digest": seals[c.value].hexdigest()}
        for c in Category
    }  # fmt: skip
    return {"categories": categories, "total": sum(counts.values()), "listed_at_most": LISTED,
            "by_interface": {k: dict(sorted(v.items())) for k, v in sorted(by_interface.items())},
            "privileged_actors": sorted(privileged)}  # fmt: skip


def spot_check_sample(
    session: Session,
    site: str,
    period: tuple[datetime, datetime],
    source: str | None,
    seed: int,
    size: int,
) -> list[dict[str, Any]]:
    """`size` messages applied in the period, drawn by a generator seeded with `seed` (the same
    seed and period draw the same messages), each with its audit entries."""
    query = select(m.id).where(m.site == site, m.status == "applied",
                               m.applied_at >= period[0], m.applied_at < period[1])  # fmt: skip
    if source is not None:
        query = query.where(m.source == source)
    ids = sorted(session.scalars(query))
    picked = sorted(random.Random(seed).sample(ids, min(size, len(ids))))
    if not picked:
        return []
    rows = session.execute(
        select(m.id, m.source, m.channel, m.message_id, m.schema, m.stream, m.sequence,
               m.correlation_id, m.applied_at, m.payload_hash).where(m.id.in_(picked))
        .order_by(m.id)
    ).mappings()  # fmt: skip
    return [_item(session, row) for row in rows]


def _item(session: Session, row: Any) -> dict[str, Any]:
    trail: list[dict[str, Any]] = []
    if row["correlation_id"]:
        found = session.execute(
            select(a.seq, a.action, a.record_type, a.record_id)
            .where(a.correlation_id == row["correlation_id"]).order_by(a.seq).limit(TRAIL_OF_ITEM)
        ).mappings()  # fmt: skip
        trail = [dict(r) for r in found]
    return {"message": row["id"], "source": row["source"], "channel": row["channel"],
            "message_id": row["message_id"], "schema": row["schema"], "stream": row["stream"],
            "sequence": row["sequence"], "correlation_id": row["correlation_id"],
            "applied_at": iso_utc(row["applied_at"]), "payload_hash": row["payload_hash"],
            "trail": trail, "mark": None, "note": None}  # fmt: skip


def _entries(
    session: Session, site: str, period: tuple[datetime, datetime], sources: set[str]
) -> Iterator[dict[str, Any]]:
    """The period's entries of the site and of no site, in seq order, PAGE rows a query."""
    query = (
        select(a.seq, a.at, a.actor, a.actor_kind, a.action, a.record_type, a.record_id, a.site,
               a.reason, a.after, a.correlation_id, a.hash)
        .where(a.at >= period[0], a.at < period[1],
               or_(a.site == site, a.site.is_(None), a.site == "-"))
        .order_by(a.seq).limit(PAGE)
    )  # fmt: skip
    last = 0
    while True:
        rows = list(session.execute(query.where(a.seq > last)).mappings())
        if not rows:
            return
        by_trace = _sources_of(session, {r["correlation_id"] for r in rows if r["correlation_id"]})
        for row in rows:
            yield _entry(row, by_trace, sources)
        last = rows[-1]["seq"]


def _entry(row: Any, by_trace: dict[str, str], sources: set[str]) -> dict[str, Any]:
    after = row["after"] if isinstance(row["after"], dict) else {}
    reason_code = after.get("reason_code")
    reason_code = reason_code if isinstance(reason_code, str) else None
    return {"seq": row["seq"], "at": iso_utc(row["at"]), "actor": row["actor"],
            "actor_kind": row["actor_kind"], "action": row["action"],
            "record_type": row["record_type"], "record_id": row["record_id"],
            "site": row["site"], "reason": (row["reason"] or "")[:300],
            "reason_code": reason_code, "interface": _interface(row, by_trace, sources),
            "category": category_of(row["action"], reason_code).value,
            "hash": row["hash"]}  # fmt: skip


def _interface(row: Any, by_trace: dict[str, str], sources: set[str]) -> str | None:
    """The source system an entry belongs to: the message it was written under, the key or
    identity it concerns, or the system account that acted."""
    if row["correlation_id"] in by_trace:
        return by_trace[row["correlation_id"]]
    if row["record_type"] in ("source_key", "identity"):
        return str(row["record_id"]).split("/", 1)[0]
    if row["actor_kind"] == "system" and row["actor"] in sources:
        return str(row["actor"])
    return None


def _sources_of(session: Session, traces: set[str]) -> dict[str, str]:
    if not traces:
        return {}
    found = session.execute(
        select(m.correlation_id, m.source).where(m.correlation_id.in_(sorted(traces)))
    )
    return {trace: source for trace, source in found}


def _known_sources(session: Session) -> set[str]:
    keys = session.scalars(select(t.source_keys.c.source).distinct())
    received = session.scalars(select(m.source).distinct())
    return set(keys) | set(received)
