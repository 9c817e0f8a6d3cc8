"""Migration 0014 on SQLite and PostgreSQL, with accounts in the database: an account locked
before the upgrade stays locked until an administrator unlocks it, accounts keep their guard
against deletes (SQLite's batch mode would have copied the table without it), and the new tables
come and go with the revision."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade

ACCOUNT = (
    "INSERT INTO accounts (username, printed_name, roles, kind, active, failed_attempts, "
    "locked_at) VALUES ('ana', 'Ana', '[]', 'person', true, 5, '2026-11-25 09:00:00+00:00')"
)


def test_migration_0014_keeps_old_locks_and_the_accounts_guard(database_url: str) -> None:
    config = alembic_config(database_url)
    engine = make_engine(database_url)
    try:
        command.downgrade(config, "0013")
        assert "client_refusals" not in inspect(engine).get_table_names()
        with engine.begin() as connection:
            connection.execute(text(ACCOUNT))
        engine.dispose()
        command.upgrade(config, "0014")
        with engine.begin() as connection:
            row = connection.execute(text("SELECT locked_at, locked_until FROM accounts")).one()
        assert row.locked_at is not None and row.locked_until is None  # until an admin unlocks
        names = set(inspect(engine).get_table_names())
        assert {"client_refusals", "notifications"} <= names
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM accounts"))
        engine.dispose()
        command.downgrade(config, "0013")
        assert "locked_until" not in {c["name"] for c in inspect(engine).get_columns("accounts")}
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM accounts"))
        engine.dispose()
        upgrade(database_url)
    finally:
        engine.dispose()
