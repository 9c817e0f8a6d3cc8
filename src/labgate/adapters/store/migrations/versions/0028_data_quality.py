"""data quality: runs of the rules, each rule's line, and the indexes the timeliness rules use

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labgate.adapters.store.types import UtcDateTime

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_samples_status_age", "samples", ["site", "status", "sampled_at"]),
    ("ix_results_status_age", "results", ["status", "entered_at"]),
    ("ix_inbox_status_age", "inbox_messages", ["status", "received_at"]),
    ("ix_outbox_status_age", "outbox", ["status", "created_at"]),
    ("ix_mappings_test", "mappings", ["site", "test_code"]),
)


def upgrade() -> None:
    op.create_table(
        "dq_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("rules", sa.Integer, nullable=False),
        sa.Column("breaches", sa.Integer, nullable=False),
    )
    op.create_index("ix_dq_runs_site", "dq_runs", ["site", "id"])
    op.create_table(
        "dq_rule_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("dq_runs.id", name="fk_dq_rule_results_run_id_dq_runs"),
            nullable=False,
        ),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("measured", sa.BigInteger, nullable=False),
        sa.Column("population", sa.BigInteger, nullable=False),
        sa.Column("threshold", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("examples", sa.JSON, nullable=False),
        sa.Column("deviation", sa.String(64)),
    )
    op.create_index("ix_dq_rule_results_run_id", "dq_rule_results", ["run_id"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_dq_rule_results_run_id", table_name="dq_rule_results")
    op.drop_table("dq_rule_results")
    op.drop_index("ix_dq_runs_site", table_name="dq_runs")
    op.drop_table("dq_runs")
