"""Migration 0012 on SQLite and PostgreSQL, with data in the database: each unit gets a quantity
kind derived from its expression (pH apart from %, so they never convert), each numeric result
the dictionary unit it was converted from; results keep their no-delete guard; the downgrade
gives the older code back the unit it converts from."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade

UNITS = {
    "%": ("percent", "mass fraction"),
    "mg/g": ("mg/g", "mass fraction"),
    "ppm": ("ppm", "mass fraction"),
    "pH": ("dimensionless", "pH"),
    "CFU/g": ("count/g", "count per mass"),
    "g": ("g", "mass"),
    "mg/mL": ("mg/mL", "mass concentration"),
    "mL/L": ("mL/L", "volume fraction"),
    "CFU": ("count", "CFU"),  # pint: dimensionless, as % is; a count is no fraction
    "odd": ("no such unit", "odd"),
}
SAMPLE = (
    "INSERT INTO samples (site, code, product, specification, spec_version, sampled_at, "
    "requested_by, status) VALUES ('T1', 'S-000001', 'P1', 'SPEC-A', 1, "
    "'2026-11-25 09:00:00+00:00', 'mes', 'in_testing')"
)
RESULT = (
    "INSERT INTO results (sample_id, code, test_code, raw_value, raw_unit, method, "
    "method_version, analyst, entered_at, limit_set, status, canonical_unit, mes_status) "
    "SELECT id, :code, :test, :value, :unit, 'M', '1', 'ana', '2026-11-25 09:00:00+00:00', "
    "'SPEC-A v1: NLT 98.0', 'preliminary', :canonical, 'Pending' FROM samples"
)
LONG = "9" * 70 + ".5"
WIDE = "UPDATE results SET canonical_value = :value WHERE code = 'S-000001-R2'"
RESULTS = [  # code, test, value, raw unit, canonical unit
    ("S-000001-R1", "ASSAY", "99.1", "%", "%"),
    ("S-000001-R2", "WATER", "3.1", "mg/g", "%"),
    ("S-000001-R3", "APPEAR", "White tablet", None, None),
]


def test_migration_0012_gives_units_kinds_and_results_their_resolved_unit(
    database_url: str,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0011")
    engine = make_engine(database_url)
    try:
        with engine.begin() as db:
            for code, (expression, _) in UNITS.items():
                db.execute(
                    text("INSERT INTO units (code, expression, precision, name) "
                         "VALUES (:code, :expression, 2, '')"),
                    {"code": code, "expression": expression},
                )  # fmt: skip
            db.execute(text(SAMPLE))
            for code, test, value, unit, canonical in RESULTS:
                db.execute(text(RESULT), {"code": code, "test": test, "value": value,
                                          "unit": unit, "canonical": canonical})  # fmt: skip
        engine.dispose()
        upgrade(database_url, "0012")
        with engine.connect() as db:
            kinds = dict(db.execute(text("SELECT code, kind FROM units")).all())
            resolved = db.execute(text("SELECT code, raw_unit, resolved_unit FROM results"))
            assert sorted(resolved.all()) == [
                ("S-000001-R1", "%", "%"),
                ("S-000001-R2", "mg/g", "mg/g"),
                ("S-000001-R3", None, None),
            ]
        assert kinds == {code: kind for code, (_, kind) in UNITS.items()}
        # SQLite copied both tables to widen their columns: the copies are guarded again.
        with pytest.raises(Exception, match="append-only"), engine.begin() as db:
            db.execute(text("DELETE FROM results"))
        assert "oot_alerts_no_delete" in triggers(engine, "oot_alerts")
        with engine.begin() as db:  # a result that came in as an alias after the upgrade
            db.execute(text("UPDATE results SET raw_unit = 'pct' WHERE code = 'S-000001-R1'"))
            db.execute(text(WIDE), {"value": LONG})
        engine.dispose()
        with pytest.raises(RuntimeError, match="S-000001-R2"):  # 70 digits would be cut
            command.downgrade(config, "0011")
        with engine.begin() as db:
            db.execute(text(WIDE), {"value": "0.31"})
        engine.dispose()
        command.downgrade(config, "0011")
        with engine.connect() as db:
            raw = db.execute(text("SELECT code, raw_unit FROM results")).all()
        assert sorted(raw, key=lambda row: row[0])[0] == ("S-000001-R1", "%")
        engine.dispose()
        upgrade(database_url)
    finally:
        engine.dispose()


def triggers(engine: Engine, table: str) -> set[str]:
    sqlite = engine.dialect.name == "sqlite"
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table"
        if sqlite
        else "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:table AS regclass)"
    )
    with engine.connect() as db:
        return set(db.execute(text(query), {"table": table}).scalars())
