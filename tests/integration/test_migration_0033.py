"""Migration 0033 on SQLite and PostgreSQL: mappings and aliases stored before it are in force
(retired_from and retired_by empty); a retirement is stored with its date and change request;
it all comes and goes with its revision, the rows kept."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade

MAPPING = ("INSERT INTO mappings (site, characteristic, test_code) "
           "VALUES ('T1', 'C-ASSAY', 'ASSAY')")  # fmt: skip
ALIAS = ("INSERT INTO aliases (site, system, kind, external_code, canonical_code) "
         "VALUES ('T1', 'MES', 'characteristic', 'QC-ASSAY', 'C-ASSAY')")  # fmt: skip


def columns(engine: object, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}  # type: ignore[arg-type]


def test_migration_0033_retires_nothing_stored_and_keeps_a_retirement(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        command.downgrade(alembic_config(database_url), "0032")
        engine.dispose()
        for table in ("mappings", "aliases"):
            assert not {"retired_from", "retired_by"} & columns(engine, table)
        with engine.begin() as connection:
            connection.execute(text(MAPPING))
            connection.execute(text(ALIAS))
        engine.dispose()
        upgrade(database_url)
        with engine.begin() as connection:
            for table in ("mappings", "aliases"):
                row = connection.execute(text(f"SELECT retired_from, retired_by FROM {table}"))
                assert tuple(row.one()) == (None, None)
            retire = text("UPDATE mappings SET retired_from = :at, retired_by = :by")
            connection.execute(retire, {"at": "2026-12-01 00:00:00+00:00", "by": "T1/CR-000002"})
            by = connection.execute(text("SELECT retired_by FROM mappings"))
            assert by.scalar_one() == "T1/CR-000002"
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0032")
        engine.dispose()
        for table in ("mappings", "aliases"):
            assert not {"retired_from", "retired_by"} & columns(engine, table)
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT canonical_code FROM aliases"))
            assert kept.scalar_one() == "C-ASSAY"
        upgrade(database_url)
    finally:
        engine.dispose()
