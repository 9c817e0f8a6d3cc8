"""icd_versions: the Interface Control Document, versioned and approved

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labgate.adapters.store.types import UtcDateTime

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "icd_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("generated_at", UtcDateTime, nullable=False),
        sa.Column("generated_by", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("approved_by", sa.String(64)),
        sa.Column("approved_at", UtcDateTime),
        sa.UniqueConstraint("site", "version"),
    )


def downgrade() -> None:
    op.drop_table("icd_versions")
