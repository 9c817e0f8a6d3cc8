"""Migration 0009 on SQLite and PostgreSQL: the trended flags default to false on rows that were
already there, the samples table keeps its append-only guard (SQLite's batch mode would have
copied the table without it), the new tables refuse deletes, and it all comes and goes with its
revision."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade

SAMPLE = (
    "INSERT INTO samples (site, code, product, specification, spec_version, sampled_at, "
    "requested_by, status) VALUES ('T1', 'S-000001', 'P1', 'SPEC-A', 1, "
    "'2026-11-25 09:00:00+00:00', 'mes', 'requested')"
)
STUDY = (
    "INSERT INTO stability_studies (site, code, product, batch, conditions, time_points, tests, "
    "criteria, start_at, window_days, author, created_at, status) VALUES ('T1', 'STAB-00001', "
    "'P1', 'B1', '[]', '{}', '[]', '{}', '2026-01-05 08:00:00+00:00', 7, 'rev', "
    "'2026-01-05 08:00:00+00:00', 'draft')"
)


def test_migration_0009_keeps_samples_guarded_and_its_tables_undeletable(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(SAMPLE))
            connection.execute(text(STUDY))
            trended = connection.execute(text("SELECT trended FROM samples")).scalar_one()
        assert trended in (False, 0)
        for table in ("samples", "stability_studies"):
            with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
                connection.execute(text(f"DELETE FROM {table}"))
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0008")
        assert "stability_studies" not in inspect(engine).get_table_names()
        assert "trended" not in {c["name"] for c in inspect(engine).get_columns("samples")}
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM samples"))
        engine.dispose()
        upgrade(database_url)
        names = set(inspect(engine).get_table_names())
        assert {"stability_studies", "stability_pulls", "oot_alerts"} <= names
    finally:
        engine.dispose()
