"""change control: change requests, the status maps they put in force, method deprecation

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labgate.adapters.store.types import UtcDateTime

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("proposal", sa.JSON, nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("effective_from", UtcDateTime),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("assessment", sa.JSON),
        sa.Column("assessment_hash", sa.String(64)),
        sa.Column("assessed_at", UtcDateTime),
        sa.Column("approver", sa.String(64)),
        sa.Column("approved_at", UtcDateTime),
        sa.Column("applied_at", UtcDateTime),
        sa.Column("closed_by", sa.String(64)),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("close_reason", sa.Text),
        sa.UniqueConstraint("site", "code", name=op.f("uq_change_requests_site_code")),
    )
    op.create_index("ix_change_requests_state", "change_requests", ["state"])
    op.create_table(
        "status_map_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("effective_from", UtcDateTime, nullable=False),
        sa.Column("change_request", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
    )
    with op.batch_alter_table("method_versions") as batch:
        batch.add_column(sa.Column("deprecated_from", UtcDateTime))


def downgrade() -> None:
    with op.batch_alter_table("method_versions") as batch:
        batch.drop_column("deprecated_from")
    op.drop_table("status_map_versions")
    op.drop_index("ix_change_requests_state", table_name="change_requests")
    op.drop_table("change_requests")
