"""Migration 0020 on SQLite and PostgreSQL: a site stored before it shows UTC, as every
document did; a zone is stored; it all comes and goes with its revision."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade


def columns(engine: object, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}  # type: ignore[arg-type]


def test_migration_0020_gives_stored_sites_utc(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        command.downgrade(alembic_config(database_url), "0018")
        engine.dispose()
        assert "time_zone" not in columns(engine, "sites")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO sites (code, name) VALUES ('T1', 'Test plant')"))
        engine.dispose()
        upgrade(database_url)
        with engine.begin() as connection:
            zone = connection.execute(text("SELECT time_zone FROM sites WHERE code = 'T1'"))
            assert zone.scalar_one() == "UTC"
            connection.execute(text("UPDATE sites SET time_zone = 'Europe/Zurich'"))
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0018")
        engine.dispose()
        assert "time_zone" not in columns(engine, "sites")
        with engine.begin() as connection:
            name = connection.execute(text("SELECT name FROM sites WHERE code = 'T1'"))
            assert name.scalar_one() == "Test plant"
        upgrade(database_url)
    finally:
        engine.dispose()
