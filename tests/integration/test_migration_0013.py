"""Migration 0013 on SQLite and PostgreSQL: rows owed before it are sealed on upgrade (by an
audit entry that says so, chained like any other), delivered ones are left alone; the trail
still verifies; the downgrade keeps every row and the outbox's guard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import DBAPIError

from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_store import snapshot, verify_stored
from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.audit import AuditDraft
from labgate.service.outbox.records import check_seal, content_hash

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def old_row(message_id: str, status: str, sequence: int) -> dict[str, object]:
    """An outbox row as schema 0012 kept it: no seal."""
    return {"site": "T1", "destination": "mes", "message_type": "note",
            "schema": "labgate.note.v1", "message_id": message_id, "correlation_id": "c-1",
            "record_id": "N-1", "payload": {"value": "1.50", "n": sequence},
            "created_at": AT, "status": status, "attempts": 0,
            "sequence": sequence}  # fmt: skip


def test_migration_0013_seals_owed_rows_and_downgrades(database_url: str, hub: Hub) -> None:
    with hub.uow_factory() as uow:  # an entry in the trail before the upgrade
        uow.audit(AuditDraft("qa", "person", "test.done", "test", "r1", AT))
        uow.commit()
    config = alembic_config(database_url)
    command.downgrade(config, "0012")
    engine = make_engine(database_url)
    columns = [c for c in t.outbox.c if c.name != "seal_seq"]
    try:
        with engine.begin() as connection:
            rows = [old_row("m-1", "pending", 1), old_row("m-2", "delivered", 2),
                    old_row("m-3", "dead", 3)]  # fmt: skip
            connection.execute(insert(t.outbox), rows)
        upgrade(database_url)
        with hub.sessions() as session:
            found = {r.message_id: r for r in session.execute(select(t.outbox))}
            entries = {r.seq: r for r in session.execute(select(t.audit_entries))}
        assert found["m-2"].seal_seq is None  # delivered: never sent again
        assert sorted(found[m].seal_seq for m in ("m-1", "m-3")) == [2, 3]
        for message_id in ("m-1", "m-3"):
            row, entry = found[message_id], entries[found[message_id].seal_seq]
            assert (entry.action, entry.actor, entry.record_id) == (
                "outbox.sealed",
                "labgate-migration",
                message_id,
            )
            assert "Sealed on upgrade to schema 0013" in entry.reason
            fields = (row.site, row.destination, row.schema, row.message_id, row.correlation_id)
            digest = content_hash(*fields, row.sequence, row.payload)
            assert entry.payload_hash == digest
        [due] = SqlOutboxStore(hub.sessions).due(AT, "mes", 10)  # the relay finds its seal
        now = content_hash(due.site, due.destination, due.schema, due.message_id,
                           due.correlation_id, due.sequence, due.payload)  # fmt: skip
        check_seal(due.message_id, due.seal, now)  # and would send it
        with snapshot(hub.sessions) as session:
            assert verify_stored(session).ok

        command.downgrade(config, "0012")
        with engine.connect() as connection:
            kept = connection.execute(select(*columns).order_by(t.outbox.c.id)).all()
        assert [r.message_id for r in kept] == ["m-1", "m-2", "m-3"]
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(delete(t.outbox))  # the outbox's guard outlived the downgrade
        upgrade(database_url)
    finally:
        engine.dispose()
