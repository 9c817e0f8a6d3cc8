"""gates told: an index that finds each operation's latest row without reading the history

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Deciding a gate compares with what the MES was last told about each operation; with
    # (site, batch) alone that read every row the batch's gates ever sent, in every transaction.
    op.drop_index("ix_gates_told_batch", table_name="gates_told")
    op.create_index(
        "ix_gates_told_latest", "gates_told", ["site", "batch", "operation", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_gates_told_latest", table_name="gates_told")
    op.create_index("ix_gates_told_batch", "gates_told", ["site", "batch"], unique=False)
