"""Migration 0016 on SQLite and PostgreSQL: a plant upgraded with data in it keeps every stored
limit line as its release limit and every stored sample bound to the release set; the guarded
tables keep their append-only guard; sampling plans refuse deletes; it all comes and goes with
its revision."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade

VERSION = (
    "INSERT INTO spec_versions (id, site, specification, version, author, status) "
    "VALUES (1, 'T1', 'SPEC-A', 1, 'author1', 'effective')"
)
LINE = (
    "INSERT INTO limit_lines (spec_version_id, test_code, \"limit\") VALUES (1, 'WATER', 'NMT 0.5')"
)
SAMPLE = (
    "INSERT INTO samples (site, code, product, specification, spec_version, sampled_at, "
    "requested_by, status, sampling_point) VALUES ('T1', 'S-000001', 'P1', 'SPEC-A', 1, "
    "'2026-11-25 09:00:00+00:00', 'mes', 'requested', 'SP-GRAN')"
)
PLAN = (
    "INSERT INTO sampling_plans (spec_version_id, sampling_point, limit_set, tests) "
    "VALUES (1, 'SP-GRAN', 'IPC', '[\"WATER\"]')"
)


def columns(engine: object, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}  # type: ignore[arg-type]


def test_migration_0016_binds_stored_limits_and_samples_to_the_release_set(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        command.downgrade(alembic_config(database_url), "0015")
        engine.dispose()
        assert "limit_set" not in columns(engine, "limit_lines")
        with engine.begin() as connection:
            for statement in (VERSION, LINE, SAMPLE):
                connection.execute(text(statement))
        engine.dispose()
        upgrade(database_url)
        with engine.begin() as connection:
            line = connection.execute(text("SELECT limit_set FROM limit_lines")).scalar_one()
            bound = connection.execute(text("SELECT limit_set FROM samples")).scalar_one()
            connection.execute(text(PLAN))
        assert (line, bound) == ("release", "release")
        for table in ("sampling_plans", "limit_lines", "samples"):
            with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
                connection.execute(text(f"DELETE FROM {table}"))
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0015")
        engine.dispose()
        assert "sampling_plans" not in inspect(engine).get_table_names()
        assert "limit_set" not in columns(engine, "samples") | columns(engine, "limit_lines")
        for table in ("limit_lines", "samples"):
            with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
                connection.execute(text(f"DELETE FROM {table}"))
        engine.dispose()
        upgrade(database_url)
        assert "limit_set" in columns(engine, "samples")
    finally:
        engine.dispose()
