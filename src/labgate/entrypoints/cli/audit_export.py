"""Audit trail exports: JSON lines for machines, HTML or CSV for people (21 CFR 11.10(b))."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from sqlalchemy.orm import Session

from labgate.adapters.store.views import iter_audit
from labgate.compliance.audit import AuditEntry, verify_chain
from labgate.compliance.clock import iso_utc

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


def export(session: Session, out: Path, readable: str) -> list[Path]:
    """Write audit.jsonl and audit.html or audit.csv into `out`; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    machine, human = out / "audit.jsonl", out / f"audit.{readable}"
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
        verdict = verify_chain(iter_audit(session))
        text = "intact" if verdict.ok else f"BROKEN at entry {verdict.first_broken}"
        human.write_text(
            _HTML.render(rows=rows, columns=COLUMNS, count=len(rows), verdict=text),
            encoding="utf-8",
        )
    return [machine, human]


def _rows(session: Session) -> Iterator[dict[str, Any]]:
    for entry in iter_audit(session):
        yield as_row(entry)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
