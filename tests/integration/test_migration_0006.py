"""Migration 0006 on SQLite and PostgreSQL: received lots and skip-lot plans come and go with
their revision, and while they are there the database refuses to delete either."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade

LOT = (
    "INSERT INTO received_lots (site, code, material, supplier, supplier_lot, received_at, "
    "received_by, sample, inspection_state, full_panel, status, supplier_coa) VALUES ('T1', "
    "'RM-000001', 'API-1', 'SUP-1', 'X-1', '2026-11-25 09:00:00+00:00', 'ana', 'S-000001', "
    "'normal', true, 'quarantine', '[]')"
)
PLAN = (
    "INSERT INTO skip_lot_plans (site, material, supplier, specification, identity_tests, "
    "clearance, fraction, changed_by, changed_at, reason, state, consecutive_accepted) VALUES "
    "('T1', 'API-1', 'SUP-1', 'SPEC-RM', '[\"IDENT\"]', 2, '0.5', 'qa', "
    "'2026-11-25 09:00:00+00:00', 'CC-1', 'normal', 0)"
)


def test_migration_0006_adds_lots_and_plans_that_are_never_deleted(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(LOT))
            connection.execute(text(PLAN))
        for table in ("received_lots", "skip_lot_plans"):
            with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
                connection.execute(text(f"DELETE FROM {table}"))
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0005")
        assert "received_lots" not in inspect(engine).get_table_names()
        upgrade(database_url)
        assert {"received_lots", "skip_lot_plans"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
