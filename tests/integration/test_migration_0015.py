"""Migration 0015 on SQLite and PostgreSQL: people whose password an administrator chose (every
one until now) change it at their next sign-in, system accounts are untouched, accounts still
refuse deletes, and it all comes and goes with its revision."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade

ACCOUNT = (
    "INSERT INTO accounts (username, printed_name, roles, kind, password_hash, api_key_hash, "
    "active, failed_attempts) VALUES (:username, :name, '[]', :kind, :password, :key, :active, 0)"
)


def test_migration_0015_makes_every_existing_password_temporary(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        command.downgrade(alembic_config(database_url), "0014")
        assert "must_change_password" not in {
            c["name"] for c in inspect(engine).get_columns("accounts")
        }
        with engine.begin() as connection:
            for username, kind, password, key, active in (
                ("qa", "person", "hash-qa", None, True),
                ("gone", "person", "hash-gone", None, False),
                ("mes", "system", None, "key-hash", True),
            ):
                connection.execute(text(ACCOUNT), {"username": username, "name": username,
                                                   "kind": kind, "password": password,
                                                   "key": key, "active": active})  # fmt: skip
        engine.dispose()
        upgrade(database_url)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT username, must_change_password FROM accounts ORDER BY username")
            ).all()
        assert [(name, bool(flag)) for name, flag in rows] == [
            ("gone", True),
            ("mes", False),
            ("qa", True),
        ]
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM accounts"))
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0014")
        assert "must_change_password" not in {
            c["name"] for c in inspect(engine).get_columns("accounts")
        }
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM accounts"))
        engine.dispose()
        upgrade(database_url)
    finally:
        engine.dispose()
