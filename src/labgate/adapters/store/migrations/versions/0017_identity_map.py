"""identity map: partner people resolved to labgate accounts; results keep who reported them

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_map",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("mapped_by", sa.String(length=64), nullable=False),
        sa.Column("mapped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_map")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_identity_map_source_external_id")
        ),
    )
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("reported_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("analyst_account", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("reviewer_account", sa.String(length=64), nullable=True))
    # Results already approved keep their decision; their accounts are what they were compared
    # as (the reviewer as signed, the analyst as named). A preliminary result from a LIMS gets
    # its analyst's account from the map when it is approved, like every new one.
    op.execute(
        "UPDATE results SET analyst_account = analyst, reviewer_account = reviewer "
        "WHERE status != 'preliminary'"
    )


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.drop_column("reviewer_account")
        batch.drop_column("analyst_account")
        batch.drop_column("reported_by")
    op.drop_table("identity_map")
