"""Migration 0004 on SQLite and PostgreSQL: the deviations table comes and goes with its
revision, and while it is there the database refuses to delete a deviation."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade

ROW = (
    "INSERT INTO deviations (site, code, kind, sample, result, test_code, analyst, opened_at, "
    "opened_by, reason, state) VALUES ('T1', 'DEV-000001', 'oos', 'S-1', 'S-1-R1', 'ASSAY', "
    "'ana', '2026-11-25 09:00:00+00:00', 'rev', 'OOS', 'open_phase1')"
)


def test_migration_0004_adds_deviations_that_are_never_deleted(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(ROW))
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM deviations"))
        duplicate = ROW.replace("DEV-000001", "DEV-000002")  # the same result again
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(duplicate))
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0003")
        assert "deviations" not in inspect(engine).get_table_names()
        upgrade(database_url)
        assert "deviations" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
