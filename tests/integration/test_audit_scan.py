"""`audit verify`'s lean read of the trail on SQLite and PostgreSQL: the bytes it builds from
each row are the ones `AuditEntry.canonical()` gives, whatever the entry holds; a long trail
walked in parallel ranges gives the report one process gives, intact or tampered with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, select, update

from intruder import behind_the_back
from labgate.adapters.store import audit_store
from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_parallel import walk_in_parallel
from labgate.adapters.store.audit_scan import scan_seals
from labgate.adapters.store.audit_store import read_head, snapshot, verify_stored
from labgate.adapters.store.views import iter_audit
from labgate.bootstrap import Hub
from labgate.compliance.audit import AuditDraft
from labgate.compliance.checkpoints import TrailReport, walk

A = t.audit_entries.c
AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

VARIED: list[dict[str, Any] | None] = [
    None,
    {},
    {"status": "approved", "reviewer": None, "conforms": True, "spec_version": 2},
    {"name": "Zürich Prüflabor", "note": "Lösung trüb — „wiederholt“", "emoji": "🧪"},
    {"Prüfer": "Ana", "ключ": "значение", "𝄞": "clef", "\ue000": "private use"},
    {"big": 2**53 - 1, "small": -(2**53 - 1), "zero": 0, "many": 123456789012345},
    {"float": 0.1, "tiny": 1e-7, "huge": 1e21, "neg": -2.5, "whole": 3.0},
    {"text": 'quote " backslash \\ newline \n tab \t nul \u0000 sep \u2028 del \x7f'},
    {"tests": [{"code": "ASSAY", "limits": ["95.0", "105.0"], "alert": None},
               {"code": "WATER", "limits": [], "nested": {"deeper": {"deepest": [1, [2, [3]]]}}}]},
    {"mixed": [1, "two", None, False, {"three": 3.5}]},
]  # fmt: skip


def varied_drafts() -> Iterator[AuditDraft]:
    at = AT
    for n, after in enumerate(VARIED):
        at += timedelta(microseconds=123457 * n)
        before = VARIED[(n + 3) % len(VARIED)]
        yield AuditDraft("ana", "person", "result.changed", "result", f"R-{n}", at,
                         before=before, after=after, reason="Prüfung" if n % 2 else None,
                         payload_hash="ab" * 32 if n % 3 else None,
                         correlation_id=f"c-{n}" if n % 2 == 0 else None,
                         site=None if n % 4 == 0 else "PLT1")  # fmt: skip
    for moment in (datetime(362, 10, 20, 1, 2, 3, tzinfo=UTC), AT.replace(microsecond=0)):
        yield AuditDraft("älvar", "system", "clock.odd", "clock", "c", moment)


def append(hub: Hub, drafts: Iterator[AuditDraft] | list[AuditDraft]) -> None:
    with hub.uow_factory() as uow:
        for draft in drafts:
            uow.audit(draft)
        uow.commit()


def test_the_lean_read_gives_the_bytes_the_seals_cover(hub: Hub) -> None:
    append(hub, varied_drafts())
    with snapshot(hub.sessions) as session:
        expected = [entry.canonical() for entry in iter_audit(session)]
        assert [seal.payload for seal in scan_seals(session)] == expected
        assert len(expected) == len(VARIED) + 2
        report = verify_stored(session)
    assert (report.ok, report.checked) == (True, len(expected))


def test_sqlite_times_in_another_form_are_read_as_the_column_reads_them(hub: Hub) -> None:
    if not hub.settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL formats the time itself")
    append(hub, [AuditDraft("ana", "person", "test.done", "test", "R-1", AT)])
    with behind_the_back(hub.settings.database_url) as connection:
        connection.exec_driver_sql("UPDATE audit_entries SET at = '2026-11-25 10:00:00'")
    with snapshot(hub.sessions) as session:
        assert [s.payload for s in scan_seals(session)] == [
            e.canonical() for e in iter_audit(session)
        ]
        assert verify_stored(session).ok


ENTRIES = 40


@pytest.fixture
def long_trail(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """Forty entries, walked in three ranges ((0, 13], (13, 26], (26, 40]) from one entry on."""
    monkeypatch.setattr(audit_store, "cpus", lambda: 3)
    drafts = list(varied_drafts())
    append(hub, (drafts[n % len(drafts)] for n in range(ENTRIES)))
    return hub


def both_ways(hub: Hub) -> tuple[TrailReport, TrailReport]:
    with snapshot(hub.sessions) as session:
        serial = verify_stored(session)
    with snapshot(hub.sessions) as session:
        parallel = verify_stored(session, parallel_from=1)
    return serial, parallel


def test_an_intact_trail_walked_in_ranges_checks_out_as_in_one(long_trail: Hub) -> None:
    with snapshot(long_trail.sessions) as session:
        head = read_head(session)
        wanted = frozenset({1, 13, 14, 27, 40})
        parallel = walk_in_parallel(session, head.seq, wanted, 3)
        assert parallel == walk(scan_seals(session), wanted)  # the workers' verdict, not a retry
    serial, report = both_ways(long_trail)
    assert report == serial
    assert (report.ok, report.checked) == (True, ENTRIES)


def edit_entry(connection: Connection) -> None:
    connection.execute(update(t.audit_entries).where(A.seq == 20).values(actor="intruder"))


def remove_boundary_entry(connection: Connection) -> None:
    connection.execute(delete(t.audit_entries).where(A.seq == 14))


def swap_entries(connection: Connection) -> None:
    rows = {
        r.seq: r for r in connection.execute(select(t.audit_entries).where(A.seq.in_((30, 31))))
    }
    for seq, other in ((30, 31), (31, 30)):
        moved = {k: v for k, v in rows[other]._mapping.items() if k != "seq"}
        connection.execute(update(t.audit_entries).where(A.seq == seq).values(**moved))


def break_link_at_boundary(connection: Connection) -> None:
    connection.execute(update(t.audit_entries).where(A.seq == 27).values(prev_hash="0" * 64))


def reseal_boundary_hash(connection: Connection) -> None:
    connection.execute(update(t.audit_entries).where(A.seq == 13).values(hash="f" * 64))


def replace_last_entry(connection: Connection) -> None:
    connection.execute(delete(t.audit_entries).where(A.seq == 40))
    row = connection.execute(select(t.audit_entries).where(A.seq == 39)).one()._mapping
    connection.execute(t.audit_entries.insert().values({**row, "seq": 40, "actor": "intruder"}))


def insert_past_the_head(connection: Connection) -> None:
    row = connection.execute(select(t.audit_entries).where(A.seq == 40)).one()._mapping
    connection.execute(t.audit_entries.insert().values({**row, "seq": 41}))


def cut_tail(connection: Connection) -> None:
    connection.execute(delete(t.audit_entries).where(A.seq > 35))


@pytest.mark.parametrize(
    "tamper",
    [edit_entry, remove_boundary_entry, swap_entries, break_link_at_boundary,
     reseal_boundary_hash, replace_last_entry, insert_past_the_head, cut_tail],
)  # fmt: skip
@pytest.mark.requirement("URS-A11-7.1", category="negative")
def test_a_tampered_trail_walked_in_ranges_is_reported_as_in_one(
    long_trail: Hub, tamper: Callable[[Connection], None]
) -> None:
    with behind_the_back(long_trail.settings.database_url) as connection:
        tamper(connection)
    serial, parallel = both_ways(long_trail)
    assert not serial.ok
    assert parallel == serial
