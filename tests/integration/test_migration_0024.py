"""Migrations 0024 and 0025 on SQLite and PostgreSQL: one configuration version per cached kind
(0025 adds the system accounts'), seeded at 0; each comes and goes with its revision."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade


def test_migration_0024_seeds_every_kind_at_version_0(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT kind, version FROM config_versions"))
            assert sorted(tuple(row) for row in rows) == [
                ("accounts", 0), ("aliases", 0), ("source_keys", 0), ("status_map", 0), ("units", 0)
            ]  # fmt: skip
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0024")
        with engine.connect() as connection:
            kinds = connection.execute(text("SELECT kind FROM config_versions"))
            assert "accounts" not in set(kinds.scalars())
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0023")
        engine.dispose()
        assert "config_versions" not in inspect(engine).get_table_names()
        engine.dispose()
        upgrade(database_url)
        with engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM config_versions"))
            assert count.scalar_one() == 5
    finally:
        engine.dispose()
