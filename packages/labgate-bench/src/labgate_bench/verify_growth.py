"""`audit verify` on a trail of 10⁶ entries (LABGATE_BENCH_AUDIT_ENTRIES) against the raw limit:
a plain SHA-256 chain over the same canonical bytes, in one process, as `bench_verify` has it.

The trail is seeded by plain SQL in batches (SQLite executemany, PostgreSQL COPY), each entry
sealed by the product's own `seal`, so it verifies; the head row is moved to its last entry.
The entries have the shapes a real run leaves (sample requested, results recorded and approved,
outbox messages sealed, messages received with correlation ids), with a few values that take
canonical JSON's slow path (a non-ASCII key)."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from rich.progress import Progress

from labgate.adapters.store.audit_parallel import PARALLEL_FROM
from labgate.adapters.store.audit_store import snapshot, verify_stored
from labgate.adapters.store.migrate import upgrade
from labgate.compliance.audit import GENESIS_HASH, AuditDraft, AuditEntry, seal
from labgate.config import Settings
from labgate.database import open_database
from labgate_bench.main import Figure

ENTRIES = int(os.environ.get("LABGATE_BENCH_AUDIT_ENTRIES", "1000000"))
CHUNK = 10_000
START = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
COLUMNS = (
    "seq",
    "at",
    "site",
    "actor",
    "actor_kind",
    "action",
    "record_type",
    "record_id",
    "before",
    "after",
    "reason",
    "payload_hash",
    "correlation_id",
    "prev_hash",
    "hash",
)
TESTS = (
    ("ASSAY", "M-HPLC-01", "2", "95.0-105.0", "%", "usp"),
    ("WATER", "M-KF-01", "1", "NMT 3.0", "%", "astm-e29"),
    ("IMP-A", "M-HPLC-02", "1", "NMT 0.5", "%", "usp"),
)


def run(label: str, url: str) -> list[Figure]:
    """Seed the trail on `url`, then time `audit verify` (as the CLI runs it, and in one
    process) and the plain chain."""
    upgrade(url)
    payloads = seed(label, url, ENTRIES)
    took = verify_seconds(url, PARALLEL_FROM)
    alone = verify_seconds(url, None)
    # The best of three: on a shared machine a slow moment must not flatter the ratio.
    plain = min(plain_chain(payloads) for _ in range(3))
    name = f"{label}.audit_verify_1e{len(str(ENTRIES)) - 1}"
    return [
        Figure(name, ENTRIES / took, "entries/s", ENTRIES / plain),
        Figure(f"{name}.one_process", ENTRIES / alone, "entries/s", ENTRIES / plain),
    ]


def plain_chain(payloads: list[bytes]) -> float:
    """Seconds of the raw limit: exactly bench_verify's plain_chain, in one process."""
    previous = GENESIS_HASH.encode()
    start = time.perf_counter()
    for payload in payloads:
        previous = hashlib.sha256(previous + payload).hexdigest().encode()
    return time.perf_counter() - start


def verify_seconds(url: str, parallel_from: int | None) -> float:
    """Seconds `audit verify` takes on the seeded trail (the CLI passes PARALLEL_FROM)."""
    database = open_database(Settings(database_url=url))
    try:
        start = time.perf_counter()
        with snapshot(database.sessions) as session:
            report = verify_stored(session, parallel_from=parallel_from)
        took = time.perf_counter() - start
    finally:
        database.close()
    assert report.ok and report.checked == ENTRIES, report
    return took


def seed(label: str, url: str, count: int) -> list[bytes]:
    """Write `count` sealed entries and move the head; the canonical bytes of each."""
    write = _sqlite_writer(url) if url.startswith("sqlite") else _postgres_writer(url)
    payloads: list[bytes] = []
    prev_hash = GENESIS_HASH
    with Progress(transient=True) as progress:
        task = progress.add_task(f"{label}: seeding {count:,} audit entries", total=count)
        for low in range(1, count + 1, CHUNK):
            sealed: list[AuditEntry] = []
            for seq, draft in _drafts(low, min(low + CHUNK, count + 1)):
                sealed.append(seal(draft, seq, prev_hash))
                prev_hash = sealed[-1].hash
            payloads += (entry.canonical() for entry in sealed)
            write(sealed, sealed[-1].seq == count)
            progress.update(task, completed=sealed[-1].seq)
    return payloads


Writer = Any  # (entries, last) -> None


def _sqlite_writer(url: str) -> Writer:
    import sqlite3

    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    marks = ", ".join("?" for _ in COLUMNS)
    insert = f"INSERT INTO audit_entries ({', '.join(_quoted(COLUMNS))}) VALUES ({marks})"

    def write(entries: list[AuditEntry], last: bool) -> None:
        # As SQLAlchemy stores them on SQLite: naive UTC text, JSON text (None as 'null').
        rows = [_row(e, e.draft.at.strftime("%Y-%m-%d %H:%M:%S.%f")) for e in entries]
        connection.execute("BEGIN")
        connection.executemany(insert, rows)
        connection.execute(
            "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
            (entries[-1].seq, entries[-1].hash),
        )
        connection.execute("COMMIT")
        if last:
            connection.close()

    return write


def _postgres_writer(url: str) -> Writer:
    connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    copy = f"COPY audit_entries ({', '.join(_quoted(COLUMNS))}) FROM STDIN"

    def write(entries: list[AuditEntry], last: bool) -> None:
        with connection.cursor() as cursor:
            with cursor.copy(copy) as writer:
                for entry in entries:
                    writer.write_row(_row(entry, entry.draft.at))
            cursor.execute(
                "UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1",
                (entries[-1].seq, entries[-1].hash),
            )
        connection.commit()
        if last:
            connection.execute("ANALYZE audit_entries")
            connection.commit()
            connection.close()

    return write


def _quoted(names: tuple[str, ...]) -> list[str]:
    return [f'"{name}"' for name in names]


def _row(e: AuditEntry, at: object) -> tuple[Any, ...]:
    d = e.draft
    return (
        e.seq,
        at,
        d.site,
        d.actor,
        d.actor_kind,
        d.action,
        d.record_type,
        d.record_id,
        json.dumps(d.before),
        json.dumps(d.after),
        d.reason,
        d.payload_hash,
        d.correlation_id,
        e.prev_hash,
        e.hash,
    )


def _drafts(low: int, high: int) -> Iterator[tuple[int, AuditDraft]]:
    """Entries `low` up to `high` (excluded): a deterministic cycle of a plant's day."""
    seq = low
    while seq < high:
        for draft in _cycle(seq):
            if seq >= high:
                return
            yield seq, draft
            seq += 1


def _cycle(seq: int) -> list[AuditDraft]:
    """The entries of one sample's life, about ten, starting at entry `seq`."""
    n = seq // 10 + 1
    at = START + timedelta(milliseconds=37 * seq)
    code = f"S-{n:06d}"
    received = uuid.UUID(int=(n * 0x9E3779B97F4A7C15) % 2**128)
    drafts = [
        AuditDraft(
            "mes",
            "system",
            "sample.requested",
            "sample",
            code,
            at,
            after=_sample(code, at),
            reason="registered in the native lab",
        ),
        _sealed(code, at, 1 + 2 * n, "sample_registration"),
    ]
    for i, test in enumerate(TESTS, start=1):
        result = f"{code}-R{i}"
        when = at + timedelta(seconds=i)
        correlation = f"{received}-{i}"
        drafts += [
            AuditDraft(
                "lims",
                "system",
                "message.received",
                "inbox",
                correlation,
                when,
                after={"source": "lims", "message_type": "result", "bytes": 640 + i},
                payload_hash=_hex("payload", n, i),
                correlation_id=correlation,
            ),
            AuditDraft(
                "lims",
                "system",
                "result.recorded",
                "result",
                result,
                when,
                after=_result(result, test, when, n),
                reason="reported by lims",
                correlation_id=correlation,
            ),
            AuditDraft(
                "lims",
                "system",
                "result.approved",
                "result",
                result,
                when,
                before={"status": "preliminary", "reviewer": None, "approved_at": None},
                after={
                    "status": "approved",
                    "reviewer": "reviewer",
                    "approved_at": _iso(when),
                    "mes_status": "Accepted",
                    "analyst_account": "analyst",
                    "reviewer_account": "reviewer",
                },
                reason="reviewed and approved in the LIMS by reviewer",
                correlation_id=correlation,
            ),
        ]
    if n % 50 == 0:  # now and then a remark in a key that is not ASCII: the slow path
        drafts.append(
            AuditDraft(
                "qa",
                "person",
                "sample.commented",
                "sample",
                code,
                at,
                after={"Bemerkung (Prüfer)": "Lösung trüb, wiederholt"},
            )
        )
    return drafts


def _sealed(code: str, at: datetime, sequence: int, message: str) -> AuditDraft:
    return AuditDraft(
        "labgate",
        "system",
        "outbox.sealed",
        "outbox",
        str(uuid.UUID(int=sequence)),
        at,
        after={"destination": "mes", "message_type": message, "sequence": sequence},
        payload_hash=_hex(code, sequence),
    )


def _sample(code: str, at: datetime) -> dict[str, Any]:
    return {
        "site": "PLT1",
        "code": code,
        "product": "IBU-400",
        "specification": "SPEC-IBU-400",
        "spec_version": 2,
        "sampled_at": _iso(at - timedelta(hours=1)),
        "requested_by": "mes",
        "mes_request_id": None,
        "batch": "B-IBU-24001",
        "lot": None,
        "equipment": None,
        "sampling_point": "SP-IBU-TAB",
        "container": None,
        "lims_sample_id": None,
        "status": "registered",
        "cancel_reason": None,
        "stability_study": None,
        "trended": False,
        "limit_set": "release",
        "tests": [
            {
                "test_code": t,
                "method": m,
                "method_version": v,
                "limit": lim,
                "unit": u,
                "rounding_rule": r,
                "sig_figs": None,
                "alert": None,
                "action": None,
                "characteristic": f"CH-{t}",
                "status": "planned",
            }
            for t, m, v, lim, u, r in TESTS
        ],
        "results": [],
    }


def _result(code: str, test: tuple[str, ...], at: datetime, n: int) -> dict[str, Any]:
    value = f"{98 + n % 30 / 10:.1f}"
    return {
        "code": code,
        "test_code": test[0],
        "raw_value": value,
        "raw_unit": "%",
        "method": test[1],
        "method_version": test[2],
        "analyst": "analyst",
        "entered_at": _iso(at),
        "limit_set": f"SPEC-IBU-400 v2 [release]: {test[3]}",
        "status": "preliminary",
        "resolved_unit": "%",
        "canonical_value": value,
        "canonical_unit": "%",
        "conversion_factor": "1",
        "reported_value": value,
        "compared_value": value,
        "rounding": "USP <29>: round half up to 1 decimal place",
        "conforms": True,
        "band": "none",
        "mes_status": "Pending",
        "reviewer": None,
        "approved_at": None,
        "supersedes": None,
        "superseded_by": None,
        "invalidated_by": None,
        "invalidated_at": None,
        "invalidation_reason": None,
        "reported_by": "lims",
        "analyst_account": "analyst",
        "reviewer_account": None,
    }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hex(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()
