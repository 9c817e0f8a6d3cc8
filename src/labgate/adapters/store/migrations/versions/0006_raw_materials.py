"""raw materials: received lots in quarantine and their skip-lot plans per material and supplier

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "skip_lot_plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("material", sa.String(length=64), nullable=False),
        sa.Column("supplier", sa.String(length=64), nullable=False),
        sa.Column("specification", sa.String(length=64), nullable=False),
        sa.Column("identity_tests", sa.JSON(), nullable=False),
        sa.Column("clearance", sa.Integer(), nullable=False),
        sa.Column("fraction", sa.String(length=64), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("consecutive_accepted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skip_lot_plans")),
        sa.UniqueConstraint(
            "site", "material", "supplier", name=op.f("uq_skip_lot_plans_site_material_supplier")
        ),
    )
    op.create_table(
        "received_lots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("material", sa.String(length=64), nullable=False),
        sa.Column("supplier", sa.String(length=64), nullable=False),
        sa.Column("supplier_lot", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.Column("sample", sa.String(length=64), nullable=False),
        sa.Column("inspection_state", sa.String(length=32), nullable=False),
        sa.Column("full_panel", sa.Boolean(), nullable=False),
        sa.Column("draw", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("supplier_coa", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_lots")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_received_lots_site_code")),
    )
    with op.batch_alter_table("received_lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_received_lots_status"), ["status"], unique=False)
    for table in GUARDED:
        _guard(table)


def downgrade() -> None:
    for table in GUARDED:
        _unguard(table)
    with op.batch_alter_table("received_lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_received_lots_status"))
    op.drop_table("received_lots")
    op.drop_table("skip_lot_plans")


# A lot's disposition and a plan's state change (UPDATE); neither is ever removed: GxP evidence.
GUARDED = ("received_lots", "skip_lot_plans")


def _guard(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'labgate: DELETE on {table} is refused: "
            "GxP records are append-only'); END"
        )
        return
    op.execute(
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION labgate_refuse()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION labgate_refuse()"
    )


def _unguard(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}")
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
