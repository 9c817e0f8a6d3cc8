"""Migrations 0024 and 0025 on SQLite and PostgreSQL: one configuration version per cached kind
(0025 adds the system accounts', 0032 the channel allow-list's), seeded at 0; each comes and goes
with its revision."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade
from labgate.service.config_cache import KINDS


def test_migration_0024_seeds_every_kind_at_version_0(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT kind, version FROM config_versions"))
            # Every kind the processes cache has its row at the head, each at version 0.
            assert sorted(tuple(row) for row in rows) == sorted((kind, 0) for kind in KINDS)
            assert {"accounts", "aliases", "source_keys", "status_map", "units"} <= set(KINDS)
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0024")
        with engine.connect() as connection:
            kinds = connection.execute(text("SELECT kind FROM config_versions"))
            assert set(kinds.scalars()) == {"aliases", "source_keys", "status_map", "units"}
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0023")
        engine.dispose()
        assert "config_versions" not in inspect(engine).get_table_names()
        engine.dispose()
        upgrade(database_url)
        with engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM config_versions"))
            assert count.scalar_one() == len(KINDS)
    finally:
        engine.dispose()
