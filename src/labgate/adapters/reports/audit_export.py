"""Audit trail exports: JSON lines for machines, HTML or CSV for people (21 CFR 11.10(b)), and
the head and signed checkpoints with their public keys, so the export proves on its own that
it is complete up to its newest checkpoint."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from sqlalchemy.orm import Session

from labgate.adapters.store.audit_store import read_checkpoints, read_head, verify_stored
from labgate.adapters.store.views import iter_audit
from labgate.compliance.audit import AuditDraft, AuditEntry
from labgate.compliance.checkpoints import Checkpoint, Head
from labgate.compliance.clock import iso_utc
from labgate.domain.errors import InvalidInput

EXPORT_FORMAT = "labgate.audit_export.v1"
ENTRIES, ANCHORS = "audit.jsonl", "audit.checkpoints.json"

COLUMNS = [
    "seq",
    "at",
    "site",
    "actor",
    "actor_kind",
    "action",
    "record_type",
    "record_id",
    "reason",
    "before",
    "after",
    "payload_hash",
    "correlation_id",
    "prev_hash",
    "hash",
]

_HTML = Environment(autoescape=select_autoescape(default=True)).from_string(
    """<!doctype html><html><head><meta charset="utf-8"><title>labgate audit trail</title>
<style>body{font:13px sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;
padding:3px 6px;vertical-align:top}td.h{font:11px monospace;word-break:break-all}</style></head>
<body><h1>labgate audit trail</h1><p>{{ count }} entries; chain {{ verdict }}.
Times are UTC.</p><table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for c in columns %}<td{% if c.endswith('hash') %} class="h"{% endif %}>
{{ row[c] if row[c] is not none else '' }}</td>{% endfor %}</tr>{% endfor %}</table></body></html>
"""
)


def as_row(entry: AuditEntry) -> dict[str, Any]:
    """One entry as a flat record, JSON values kept as canonical JSON text."""
    d = entry.draft
    return {
        "seq": entry.seq,
        "at": iso_utc(d.at),
        "site": d.site,
        "actor": d.actor,
        "actor_kind": d.actor_kind,
        "action": d.action,
        "record_type": d.record_type,
        "record_id": d.record_id,
        "reason": d.reason,
        "before": None if d.before is None else json.dumps(d.before, sort_keys=True),
        "after": None if d.after is None else json.dumps(d.after, sort_keys=True),
        "payload_hash": d.payload_hash,
        "correlation_id": d.correlation_id,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def export(
    session: Session, out: Path, readable: str, trusted: Sequence[dict[str, Any]] = ()
) -> list[Path]:
    """Write audit.jsonl, audit.checkpoints.json and audit.html or audit.csv into `out` from a
    `snapshot` session; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    machine, human = out / ENTRIES, out / f"audit.{readable}"
    anchors = out / ANCHORS
    anchors.write_text(json.dumps(_anchors(session), indent=1, sort_keys=True), encoding="utf-8")
    rows = list(_rows(session))
    with machine.open("w", encoding="utf-8") as sink:
        for row in rows:
            structured = {**row, "before": _load(row["before"]), "after": _load(row["after"])}
            sink.write(json.dumps(structured, sort_keys=True) + "\n")
    if readable == "csv":
        with human.open("w", encoding="utf-8", newline="") as sink:
            writer = csv.DictWriter(sink, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        verdict = verify_stored(session, trusted)
        text = "intact" if verdict.ok else f"BROKEN at entry {verdict.first_broken}"
        human.write_text(
            _HTML.render(rows=rows, columns=COLUMNS, count=len(rows), verdict=text),
            encoding="utf-8",
        )
    return [machine, anchors, human]


def _rows(session: Session) -> Iterator[dict[str, Any]]:
    for entry in iter_audit(session):
        yield as_row(entry)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _anchors(session: Session) -> dict[str, Any]:
    head, checkpoints = read_head(session), read_checkpoints(session)
    keys = {c.public_jwk["x"]: {**c.public_jwk, "kid": c.kid} for c in checkpoints}
    return {
        "format": EXPORT_FORMAT,
        "head": {"seq": head.seq, "hash": head.hash},
        "checkpoints": [_checkpoint(c) for c in checkpoints],
        "public_keys": list(keys.values()),
    }


def _checkpoint(c: Checkpoint) -> dict[str, Any]:
    return {"seq": c.seq, "hash": c.hash, "at": iso_utc(c.at), "kid": c.kid,
            "public_jwk": c.public_jwk, "signature": c.signature}  # fmt: skip


def read_export(folder: Path) -> tuple[Iterator[AuditEntry], Head, list[Checkpoint]]:
    """An export's entries, head and checkpoints, as an auditor's tool reads them; InvalidInput
    naming the file if it is not a labgate export."""
    try:
        anchors = json.loads((folder / ANCHORS).read_text(encoding="utf-8"))
        if anchors.get("format") != EXPORT_FORMAT:
            raise ValueError(f"its format is not {EXPORT_FORMAT}")
        head = Head(anchors["head"]["seq"], anchors["head"]["hash"])
        checkpoints = [
            Checkpoint(
                c["seq"],
                c["hash"],
                datetime.fromisoformat(c["at"]),
                c["kid"],
                c["public_jwk"],
                c["signature"],
            )
            for c in anchors["checkpoints"]
        ]
        lines = (folder / ENTRIES).read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidInput(
            f"{folder} is not a complete labgate audit export ({ENTRIES} and {ANCHORS}): {error}.",
            reason="audit.export_unreadable",
            field="export",
        ) from None
    return _entries(folder / ENTRIES, lines), head, checkpoints


def _entries(path: Path, lines: list[str]) -> Iterator[AuditEntry]:
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            fields = {k: row[k] for k in AuditDraft.__dataclass_fields__ if k != "at"}
            draft = AuditDraft(**fields, at=datetime.fromisoformat(row["at"]))
            yield AuditEntry(row["seq"], draft, row["prev_hash"], row["hash"])
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidInput(
                f"Line {number} of {path} is not an audit entry: {error}.",
                reason="audit.export_unreadable",
                field="export",
            ) from None
