"""Migration 0021 on SQLite and PostgreSQL: a product stored before it has no shelf life (so no
CoA invents an expiry); one is stored; it all comes and goes with its revision."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, upgrade


def columns(engine: object, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}  # type: ignore[arg-type]


def test_migration_0021_gives_stored_products_no_shelf_life(database_url: str) -> None:
    engine = make_engine(database_url)
    insert = ("INSERT INTO products (site, code, name, specification) "
              "VALUES ('T1', 'P1', 'Test tablet', 'SPEC-A')")  # fmt: skip
    try:
        command.downgrade(alembic_config(database_url), "0020")
        engine.dispose()
        assert "shelf_life_months" not in columns(engine, "products")
        with engine.begin() as connection:
            connection.execute(text(insert))
        engine.dispose()
        upgrade(database_url)
        with engine.begin() as connection:
            months = connection.execute(text("SELECT shelf_life_months FROM products"))
            assert months.scalar_one() is None
            connection.execute(text("UPDATE products SET shelf_life_months = 36"))
            months = connection.execute(text("SELECT shelf_life_months FROM products"))
            assert months.scalar_one() == 36
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0020")
        engine.dispose()
        assert "shelf_life_months" not in columns(engine, "products")
        with engine.begin() as connection:
            name = connection.execute(text("SELECT name FROM products WHERE code = 'P1'"))
            assert name.scalar_one() == "Test tablet"
        upgrade(database_url)
    finally:
        engine.dispose()
