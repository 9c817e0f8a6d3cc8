"""periodic audit-trail review: the reviews, and the trail indexed by time for their periods

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labgate.adapters.store.types import UtcDateTime

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_reviews",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("period_from", UtcDateTime, nullable=False),
        sa.Column("period_to", UtcDateTime, nullable=False),
        sa.Column("source", sa.String(64)),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("sample", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("signed_by", sa.String(64)),
        sa.Column("signed_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_reviews")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_audit_reviews_site_code")),
    )
    op.create_index(op.f("ix_audit_reviews_state"), "audit_reviews", ["state"])
    op.create_index(op.f("ix_audit_entries_at"), "audit_entries", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_entries_at"), table_name="audit_entries")
    op.drop_index(op.f("ix_audit_reviews_state"), table_name="audit_reviews")
    op.drop_table("audit_reviews")
