"""The file-pack reconciliation report: packs expected (every sequence number up to the last seen
on each stream) against packs received, and records declared in manifests against records
applied; plus what still waits in the exchange folders. An integration engineer signs off a
day's exchange when the report balances."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.compliance.canonical import to_jsonable
from labgate.domain.errors import LabgateError
from labgate.service.incoming import Incoming

PACK_CHANNELS = ("folder", "sftp")
Decode = Callable[[bytes, str], Incoming]


def reconciliation(
    session: Session,
    decode: Decode,
    since: datetime | None = None,
    folders: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """The report as plain data (JSON-ready)."""
    packs = _received(session, decode, since) + _refused(session, decode, since)
    applied = _records_applied(session, [p["payload_hash"] for p in packs])
    for pack in packs:
        pack["records_applied"] = applied.get(pack.pop("payload_hash"), 0)
    streams = _streams(packs)
    waiting = {name: sorted(folders.get(name, ())) for name in ("incoming", "work")} if folders \
        else {"incoming": [], "work": []}  # fmt: skip
    balanced = (
        not waiting["incoming"] and not waiting["work"] and all(s["balanced"] for s in streams)
    )
    report: dict[str, Any] = to_jsonable(
        {
            "since": since,
            "channels": list(PACK_CHANNELS),
            "balanced": balanced,
            "streams": streams,
            "packs": sorted(packs, key=lambda p: (p["source"], p["stream"], p["sequence"] or 0)),
            "waiting": waiting,
            "rejected_files": sorted(folders.get("rejected", ())) if folders else [],
        }
    )
    return report


def _received(session: Session, decode: Decode, since: datetime | None) -> list[dict[str, Any]]:
    query = select(t.inbox_messages).where(t.inbox_messages.c.channel.in_(PACK_CHANNELS))
    if since is not None:
        query = query.where(t.inbox_messages.c.received_at >= since)
    rows = session.execute(query.order_by(t.inbox_messages.c.id)).mappings()
    return [
        {
            "source": r["source"],
            "stream": r["stream"],
            "sequence": r["sequence"],
            "message_id": r["message_id"],
            "channel": r["channel"],
            "received_at": r["received_at"],
            "status": r["status"],
            "records_declared": _declared(decode, r["raw"], r["channel"]),
            "payload_hash": r["payload_hash"],
            "quarantine_id": None,
            "reason": None,
        }
        for r in rows
    ]


def _refused(session: Session, decode: Decode, since: datetime | None) -> list[dict[str, Any]]:
    """Quarantined packs that the inbox never took in (bad signature, PGP, name, ...)."""
    taken = select(t.inbox_messages.c.message_id).where(
        t.inbox_messages.c.source == t.quarantine.c.source
    )
    query = select(t.quarantine).where(
        t.quarantine.c.channel.in_(PACK_CHANNELS),
        t.quarantine.c.message_id.is_(None) | t.quarantine.c.message_id.not_in(taken),
    )
    if since is not None:
        query = query.where(t.quarantine.c.received_at >= since)
    packs = []
    for r in session.execute(query.order_by(t.quarantine.c.id)).mappings():
        try:
            envelope = decode(r["raw"], r["channel"]).envelope
            stream, sequence = envelope.stream, envelope.sequence
        except LabgateError:
            stream, sequence = None, None
        packs.append(
            {
                "source": r["source"],
                "stream": stream,
                "sequence": sequence,
                "message_id": r["message_id"],
                "channel": r["channel"],
                "received_at": r["received_at"],
                "status": "refused" if r["status"] == "open" else f"refused, {r['status']}",
                "records_declared": _declared(decode, r["raw"], r["channel"]),
                "payload_hash": r["sha256"],
                "quarantine_id": r["id"],
                "reason": r["reason_code"],
            }
        )
    return packs


def _declared(decode: Decode, raw: bytes, channel: str) -> int | None:
    """Records the signed manifest declares; None when the pack cannot be read."""
    try:
        payload = decode(raw, channel).envelope.payload
        return sum(int(f["records"]) for f in payload["files"])
    except (LabgateError, KeyError, TypeError, ValueError):
        return None


def _records_applied(session: Session, hashes: list[str]) -> dict[str, int]:
    """Results recorded from each pack, by the pack's hash on their audit entries."""
    if not hashes:
        return {}
    query = (
        select(t.audit_entries.c.payload_hash, func.count())
        .where(t.audit_entries.c.action == "result.recorded")
        .where(t.audit_entries.c.payload_hash.in_(set(hashes)))
        .group_by(t.audit_entries.c.payload_hash)
    )
    return {h: int(n) for h, n in session.execute(query)}


def _streams(packs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keyed: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pack in packs:
        if pack["source"] and pack["stream"]:
            keyed.setdefault((pack["source"], pack["stream"]), []).append(pack)
    lines = []
    for (source, stream), group in sorted(keyed.items()):
        seen = {p["sequence"] for p in group}
        last = max(seen)
        missing = [n for n in range(1, last + 1) if n not in seen]
        count = {
            s: sum(p["status"] == s for p in group) for s in ("applied", "held", "quarantined")
        }
        refused = sum(p["status"] == "refused" for p in group)  # still open in quarantine
        declared = sum(p["records_declared"] or 0 for p in group if p["status"] == "applied")
        applied = sum(p["records_applied"] for p in group if p["status"] == "applied")
        lines.append(
            {
                "source": source,
                "stream": stream,
                "expected": last,
                "received": len(seen),
                "missing": missing,
                **count,
                "refused_open": refused,
                "records_declared": declared,
                "records_applied": applied,
                "balanced": not missing
                and count["held"] == 0
                and count["quarantined"] == 0
                and refused == 0
                and declared == applied,
            }
        )
    return lines
