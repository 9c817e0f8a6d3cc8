"""sign-in: lockout that ends by itself, throttling, refusal summaries

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_KEY = sa.String(length=64)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Accounts locked before the upgrade keep the lock they were given: until an administrator
    # unlocks them (locked_until stays empty). Locks from now on end by themselves. Plain ALTER
    # TABLE for the reason given in downgrade.
    op.add_column("accounts", sa.Column("locked_until", _TIME, nullable=True))
    op.create_table(
        "client_refusals",
        sa.Column("client", _KEY, nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("audited", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("client", name=op.f("pk_client_refusals")),
    )
    op.create_index(
        op.f("ix_client_refusals_pending"), "client_refusals", ["pending"], unique=False
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("raised_at", _TIME, nullable=False),
        sa.Column("kind", _KEY, nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_index(op.f("ix_client_refusals_pending"), table_name="client_refusals")
    op.drop_table("client_refusals")
    # A lock that would have ended by itself stays until an administrator unlocks it: the
    # older schema knows no other kind. Plain ALTER TABLE (SQLite 3.35+), not batch mode, which
    # copies the table and would drop the trigger that refuses deletes on accounts.
    op.drop_column("accounts", "locked_until")
