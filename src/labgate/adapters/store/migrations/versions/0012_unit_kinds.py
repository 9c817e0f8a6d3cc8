"""units: a declared quantity kind on every unit; the unit as sent kept on the result

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Kinds named after what pint reduces an expression to. Ratios of like units are fractions of
# that quantity (mg/g: mass, mL/L: volume); a scaled pure number (%, ppm) a mass fraction, as
# w/w in pharmacy and the demo plant: a plant keeping % v/v declares it apart after the upgrade.
KIND_LENGTH = 64
FRACTIONS = {"[mass]": "mass fraction", "[length] ** 3": "volume fraction",
             "[substance]": "amount fraction"}  # fmt: skip
NAMED = {
    "[mass]": "mass",
    "[length] ** 3": "volume",
    "[mass] / [length] ** 3": "mass concentration",
    "[substance] / [length] ** 3": "amount concentration",
    "1 / [mass]": "count per mass",
    "1 / [length] ** 3": "count per volume",
    "[temperature]": "temperature",
    "[time]": "time",
}


def upgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=64), nullable=True))
    units = sa.table("units", sa.column("code"), sa.column("expression"), sa.column("kind"))
    bind = op.get_bind()
    rows = bind.execute(sa.select(units.c.code, units.c.expression)).all()
    registry = _registry() if rows else None
    for code, expression in rows:
        kind = derived_kind(registry, code, expression)
        bind.execute(units.update().where(units.c.code == code).values(kind=kind))
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=64), nullable=False)
    # A plain ADD COLUMN on both (batch mode recreates no table for it): results keep the
    # trigger that refuses deletes.
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_unit", sa.String(length=64), nullable=True))
    # Until now raw_unit held the dictionary unit an alias resolved to (the unit as sent was not
    # kept): it is the unit each numeric result was converted from.
    op.execute(
        "UPDATE results SET resolved_unit = raw_unit "
        "WHERE canonical_unit IS NOT NULL AND raw_unit IS NOT NULL"
    )
    _retype(sa.String(length=64), sa.Text())


def downgrade() -> None:
    _refuse_narrowing()
    _retype(sa.Text(), sa.String(length=64))
    # The older code converts from raw_unit: give it back the dictionary unit.
    op.execute("UPDATE results SET raw_unit = resolved_unit WHERE resolved_unit IS NOT NULL")
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite 3.35+): recreating the table would drop its no-delete trigger.
        op.execute("ALTER TABLE results DROP COLUMN resolved_unit")
    else:
        op.drop_column("results", "resolved_unit")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_column("kind")


# Values derived from a reported one keep every digit (exact conversion and rounding): 64
# characters refused a 70-digit value, or 1E+100 rounded to one place, on PostgreSQL only.
WIDENED = {
    "results": ("canonical_value", "conversion_factor", "reported_value", "compared_value"),
    "oot_alerts": ("value",),
}


def _retype(old: sa.types.TypeEngine[Any], new: sa.types.TypeEngine[Any]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=old, type_=new)
        if sqlite:
            # SQLite's batch mode copied the table, and its no-delete trigger stayed behind.
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
                f"SELECT RAISE(ABORT, 'labgate: DELETE on {table} is refused: "
                "GxP records are append-only'); END"
            )


def _refuse_narrowing() -> None:
    """Going back to 64 characters would cut digits off a record: refuse, naming the rows."""
    bind = op.get_bind()
    for table, columns in WIDENED.items():
        longer = " OR ".join(f"LENGTH({column}) > 64" for column in columns)
        found = bind.execute(sa.text(f"SELECT code FROM {table} WHERE {longer}")).scalars().all()
        if found:
            raise RuntimeError(
                f"Cannot downgrade below 0012: {table} {', '.join(found[:10])} hold numbers "
                "longer than the 64 characters the older schema stores; they would be cut."
            )


def _registry() -> Any:
    """pint's registry, as the converter builds it (adapters/units_pint.py)."""
    import pint

    return pint.UnitRegistry(non_int_type=Decimal)


def derived_kind(registry: Any, code: str, expression: str) -> str:
    """A kind from the expression's dimensionality; a bare number (pH's `dimensionless`) or an
    expression pint cannot read is a kind of its own, named by its code: it converts to nothing."""
    import pint

    try:
        quantity = registry.Quantity(Decimal(1), expression)
    except (pint.errors.PintError, ValueError, AttributeError, TypeError):
        return code
    dimensionality = str(quantity.dimensionality)
    if dimensionality == "dimensionless":
        # "dimensionless", "count": a scale (pH) or a count, never a fraction
        kind = _fraction(registry, quantity) or code
    else:
        kind = NAMED.get(dimensionality, dimensionality)
    return kind if len(kind) <= KIND_LENGTH else code


def _fraction(registry: Any, quantity: Any) -> str | None:
    """The kind of a ratio of like units (mg/g, mL/L) or of a scaled pure number (%, ppm: w/w,
    as in pharmacy); None for a bare number, a count or an angle, which pint also calls
    dimensionless."""
    for unit in quantity._units:
        part = str(registry.Quantity(Decimal(1), unit).dimensionality)
        if part != "dimensionless":
            return FRACTIONS.get(part, f"{part} fraction")
    return "mass fraction" if quantity.to_base_units().magnitude != 1 else None
