"""channel_allow_list_versions: the channel allow-lists change requests put in force

Each approved allow-list (channel -> the versioned schemas it carries) is written at its
approval with the date it is in force from; before the first, the LABGATE_CHANNEL_SCHEMAS
setting holds. A config version (kind channel_allow_list) moves with every write, so every
process reads them again and switches at the date by its own clock.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labgate.adapters.store.types import UtcDateTime

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_allow_list_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("effective_from", UtcDateTime, nullable=False),
        sa.Column("change_request", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
    )
    versions = sa.table("config_versions", sa.column("kind", sa.String), sa.column("version"))
    op.bulk_insert(versions, [{"kind": "channel_allow_list", "version": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM config_versions WHERE kind = 'channel_allow_list'")
    op.drop_table("channel_allow_list_versions")
