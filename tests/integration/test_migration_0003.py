"""Migration 0003 on SQLite and PostgreSQL: outbox rows written before it survive the upgrade,
owing their first attempt, and survive the downgrade too."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select, text

from labgate.adapters.store import tables as t
from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade


def test_migration_0003_keeps_rows_both_ways(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0002")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO outbox (site, destination, message_type, schema, message_id, "
                    "record_id, payload, created_at, status) VALUES ('T1', 'mes', 'x', "
                    "'labgate.x.v1', 'm-1', 'S-1', '{}', '2026-11-25 09:00:00+00:00', 'pending')"
                )
            )
        upgrade(database_url)
        with engine.connect() as connection:
            row = connection.execute(select(t.outbox)).mappings().one()
        assert (row["message_id"], row["status"], row["attempts"], row["next_attempt_at"]) == (
            "m-1",
            "pending",
            0,
            None,
        )
        command.downgrade(config, "0002")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT message_id FROM outbox")).scalars().all() == [
                "m-1"
            ]
        upgrade(database_url)
    finally:
        engine.dispose()
