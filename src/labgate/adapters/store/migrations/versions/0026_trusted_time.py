"""trusted time: the hub's clock checks against NTP, each server's state, each source's skew

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labgate.adapters.store.types import UtcDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clock_checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("server", sa.String(200), nullable=False),
        sa.Column("checked_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("threshold_ms", sa.Float, nullable=False),
        sa.Column("offset_ms", sa.Float),
        sa.Column("delay_ms", sa.Float),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_clock_checks_time", "clock_checks", ["checked_at"])
    op.create_table(
        "clock_states",
        sa.Column("server", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("since", UtcDateTime, nullable=False),
        sa.Column("last_checked_at", UtcDateTime, nullable=False),
        sa.Column("last_offset_ms", sa.Float),
    )
    op.create_table(
        "source_clock_skew",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("messages", sa.BigInteger, nullable=False),
        sa.Column("total_ms", sa.BigInteger, nullable=False),
        sa.Column("min_ms", sa.BigInteger, nullable=False),
        sa.Column("max_ms", sa.BigInteger, nullable=False),
        sa.Column("last_ms", sa.BigInteger, nullable=False),
        sa.Column("last_received_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_clock_skew")
    op.drop_table("clock_states")
    op.drop_index("ix_clock_checks_time", table_name="clock_checks")
    op.drop_table("clock_checks")
