"""deviations: OOS investigations, one per rejected result, never deleted

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deviations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sample", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=64), nullable=False),
        sa.Column("test_code", sa.String(length=64), nullable=False),
        sa.Column("analyst", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("lot", sa.String(length=64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("phase1_conclusion", sa.String(length=32), nullable=True),
        sa.Column("phase1_by", sa.String(length=64), nullable=True),
        sa.Column("phase1_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phase1_reason", sa.Text(), nullable=True),
        sa.Column("phase2_conclusion", sa.String(length=32), nullable=True),
        sa.Column("phase2_by", sa.String(length=64), nullable=True),
        sa.Column("phase2_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phase2_reason", sa.Text(), nullable=True),
        sa.Column("capa", sa.String(length=64), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closure_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviations")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_deviations_site_code")),
        sa.UniqueConstraint("site", "result", name=op.f("uq_deviations_site_result")),
    )
    with op.batch_alter_table("deviations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deviations_batch"), ["batch"], unique=False)
        batch_op.create_index(batch_op.f("ix_deviations_lot"), ["lot"], unique=False)
        batch_op.create_index(batch_op.f("ix_deviations_state"), ["state"], unique=False)
    _guard()


def downgrade() -> None:
    _unguard()
    with op.batch_alter_table("deviations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deviations_state"))
        batch_op.drop_index(batch_op.f("ix_deviations_lot"))
        batch_op.drop_index(batch_op.f("ix_deviations_batch"))
    op.drop_table("deviations")


# An investigation moves through its states (UPDATE) but is never removed: it is GxP evidence.
def _guard() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER deviations_no_delete BEFORE DELETE ON deviations BEGIN "
            "SELECT RAISE(ABORT, 'labgate: DELETE on deviations is refused: "
            "GxP records are append-only'); END"
        )
        return
    op.execute(
        "CREATE TRIGGER deviations_no_delete BEFORE DELETE ON deviations "
        "FOR EACH ROW EXECUTE FUNCTION labgate_refuse()"
    )
    op.execute(
        "CREATE TRIGGER deviations_no_truncate BEFORE TRUNCATE ON deviations "
        "FOR EACH STATEMENT EXECUTE FUNCTION labgate_refuse()"
    )


def _unguard() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS deviations_no_delete")
        return
    op.execute("DROP TRIGGER IF EXISTS deviations_no_delete ON deviations")
    op.execute("DROP TRIGGER IF EXISTS deviations_no_truncate ON deviations")
