"""The file-pack reconciliation report: packs expected (every sequence number up to the last
taken in on each stream) against packs received, and records declared in manifests against
records applied; plus what still waits in the exchange folders. An integration engineer signs
off a day's exchange when the report balances.

A pack *taken in* (its manifest authenticated and checked) holds its number: applied, held for
a gap, or quarantined by its use case (settled once that item is discarded or reprocessed). A
pack *refused before* that (PGP, name, signature, digest, schema...) holds no number: the sender
sends that sequence again; it is listed with its quarantine id and reason, open until closed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.compliance.canonical import to_jsonable
from labgate.domain.errors import LabgateError
from labgate.service.inbox.incoming import Incoming

PACK_CHANNELS = ("folder", "sftp")
Decode = Callable[[bytes, str], Incoming]
Row = RowMapping


def reconciliation(
    session: Session,
    decode: Decode,
    since: datetime | None = None,
    folders: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """The report as plain data (JSON-ready)."""
    items = _quarantine(session)
    packs = _taken_in(session, decode, since, items) + _refused(session, decode, since, items)
    applied = _records_applied(session, [p["payload_hash"] for p in packs])
    for pack in packs:
        pack["records_applied"] = applied.get(pack.pop("payload_hash"), 0)
    streams = _streams(packs, _last_before(session, since) if since else {})
    waiting = {name: sorted(folders.get(name, ())) for name in ("incoming", "work")} if folders \
        else {"incoming": [], "work": []}  # fmt: skip
    unattributed = [p for p in packs if not (p["source"] and p["stream"])]
    balanced = (
        not waiting["incoming"]
        and not waiting["work"]
        and all(s["balanced"] for s in streams)
        and all(p["resolution"] != "open" for p in unattributed)
    )
    report: dict[str, Any] = to_jsonable(
        {
            "since": since,
            "channels": list(PACK_CHANNELS),
            "balanced": balanced,
            "streams": streams,
            "packs": sorted(packs, key=_order),
            "unattributed_open": sum(p["resolution"] == "open" for p in unattributed),
            "waiting": waiting,
            "rejected_files": sorted(folders.get("rejected", ())) if folders else [],
        }
    )
    return report


def _order(pack: dict[str, Any]) -> tuple[str, str, int, int]:
    # A pack that could not be read has no source or stream: it sorts first, never compared
    # with None.
    return (pack["source"] or "", pack["stream"] or "", pack["sequence"] or 0,
            pack["quarantine_id"] or 0)  # fmt: skip


def _quarantine(session: Session) -> list[Row]:
    query = select(t.quarantine).where(t.quarantine.c.channel.in_(PACK_CHANNELS))
    return list(session.execute(query.order_by(t.quarantine.c.id)).mappings())


def _taken_in(
    session: Session, decode: Decode, since: datetime | None, items: list[Row]
) -> list[dict[str, Any]]:
    """Packs the inbox took in, each with the quarantine item of its refusal, if refused."""
    query = select(t.inbox_messages).where(t.inbox_messages.c.channel.in_(PACK_CHANNELS))
    if since is not None:
        query = query.where(t.inbox_messages.c.received_at >= since)
    rows = session.execute(query.order_by(t.inbox_messages.c.id)).mappings()
    # The item of the taken-in copy itself: same source, message id and bytes (the latest).
    own = {(i["source"], i["message_id"], i["sha256"]): i for i in items}
    packs = []
    for r in rows:
        item = own.get((r["source"], r["message_id"], r["payload_hash"]))
        if r["status"] != "quarantined":
            item = None
        packs.append(_pack(r, r["status"], True, decode, r["raw"], r["payload_hash"], item))
        packs[-1] |= {"stream": r["stream"], "sequence": r["sequence"]}
    return packs


def _refused(
    session: Session, decode: Decode, since: datetime | None, items: list[Row]
) -> list[dict[str, Any]]:
    """Quarantined packs the inbox never took in: their number is not used."""
    taken = {
        (r.source, r.message_id, r.payload_hash)
        for r in session.execute(
            select(
                t.inbox_messages.c.source,
                t.inbox_messages.c.message_id,
                t.inbox_messages.c.payload_hash,
            ).where(t.inbox_messages.c.channel.in_(PACK_CHANNELS))
        )
    }
    packs = []
    for i in items:
        if (i["source"], i["message_id"], i["sha256"]) in taken:
            continue
        if since is not None and i["received_at"] < since:
            continue
        pack = _pack(i, "refused", False, decode, i["raw"], i["sha256"], i)
        try:
            envelope = decode(i["raw"], i["channel"]).envelope
            pack |= {"stream": envelope.stream, "sequence": envelope.sequence}
        except LabgateError:
            pass  # unreadable (PGP, not a tar): no stream it could be counted on
        packs.append(pack)
    return packs


def _pack(
    row: Row, status: str, taken: bool, decode: Decode, raw: bytes, digest: str, item: Row | None
) -> dict[str, Any]:
    return {
        "source": row["source"],
        "stream": None,
        "sequence": None,
        "message_id": row["message_id"],
        "channel": row["channel"],
        "received_at": row["received_at"],
        "status": status,
        "number_used": taken,
        "records_declared": _declared(decode, raw, row["channel"]),
        "payload_hash": digest,
        "quarantine_id": item["id"] if item else None,
        "reason": item["reason_code"] if item else None,
        "resolution": item["status"] if item else None,  # open | discarded | reprocessed
    }


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


def _last_before(session: Session, since: datetime) -> dict[tuple[str, str], int]:
    """Per stream, the last number taken in before `since`: the report expects the ones after."""
    m = t.inbox_messages.c
    query = (
        select(m.source, m.stream, func.max(m.sequence))
        .where(m.channel.in_(PACK_CHANNELS), m.received_at < since)
        .group_by(m.source, m.stream)
    )
    return {(source, stream): int(last) for source, stream, last in session.execute(query)}


def _streams(
    packs: list[dict[str, Any]], before: dict[tuple[str, str], int]
) -> list[dict[str, Any]]:
    keyed: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pack in packs:
        if pack["source"] and pack["stream"]:
            keyed.setdefault((pack["source"], pack["stream"]), []).append(pack)
    return [_line(source, stream, group, before.get((source, stream), 0))
            for (source, stream), group in sorted(keyed.items())]  # fmt: skip


def _line(source: str, stream: str, group: list[dict[str, Any]], first: int) -> dict[str, Any]:
    taken = [p for p in group if p["number_used"]]
    seen = {p["sequence"] for p in taken}
    last = max(seen, default=first)
    missing = [n for n in range(first + 1, last + 1) if n not in seen]
    count = {s: sum(p["status"] == s for p in taken) for s in ("applied", "held")}
    quarantined = [p for p in taken if p["status"] == "quarantined"]
    refused = [p for p in group if not p["number_used"]]
    declared = sum(p["records_declared"] or 0 for p in taken if p["status"] == "applied")
    applied = sum(p["records_applied"] for p in taken if p["status"] == "applied")
    open_quarantined = sum(p["resolution"] == "open" for p in quarantined)
    open_refused = sum(p["resolution"] == "open" for p in refused)
    return {
        "source": source,
        "stream": stream,
        "expected": last - first,
        "from_sequence": first + 1,
        "received": len(seen),
        "missing": missing,
        **count,
        "quarantined": len(quarantined),
        "quarantined_open": open_quarantined,
        "refused": len(refused),
        "refused_open": open_refused,
        "records_declared": declared,
        "records_applied": applied,
        "balanced": not missing
        and count["held"] == 0
        and open_quarantined == 0
        and open_refused == 0
        and declared == applied,
    }
