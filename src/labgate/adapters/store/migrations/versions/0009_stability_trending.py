"""stability studies, their pulls, and out-of-trend alerts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_KEY = sa.String(length=64)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Existing points and samples are not trended: an OOT check is switched on deliberately.
    # Plain ALTER TABLE, not batch mode: SQLite's batch mode copies the table and would drop
    # the append-only trigger on samples.
    for table in ("sampling_points", "samples"):
        op.add_column(
            table, sa.Column("trended", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.add_column("samples", sa.Column("stability_study", _KEY, nullable=True))
    _studies()
    _pulls()
    _alerts()
    for table in GUARDED:
        _guard(table)


def _studies() -> None:
    op.create_table(
        "stability_studies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", _KEY, nullable=False),
        sa.Column("code", _KEY, nullable=False),
        sa.Column("product", _KEY, nullable=False),
        sa.Column("batch", _KEY, nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("time_points", sa.JSON(), nullable=False),
        sa.Column("tests", sa.JSON(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("start_at", _TIME, nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("author", _KEY, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("approver", _KEY, nullable=True),
        sa.Column("approved_at", _TIME, nullable=True),
        sa.Column("closed_by", _KEY, nullable=True),
        sa.Column("closed_at", _TIME, nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stability_studies")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_stability_studies_site_code")),
    )


def _pulls() -> None:
    op.create_table(
        "stability_pulls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", _KEY, nullable=False),
        sa.Column("study", _KEY, nullable=False),
        sa.Column("product", _KEY, nullable=False),
        sa.Column("batch", _KEY, nullable=False),
        sa.Column("condition", _KEY, nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("due_at", _TIME, nullable=False),
        sa.Column("sample", _KEY, nullable=False),
        sa.Column("pulled_at", _TIME, nullable=False),
        sa.Column("pulled_by", _KEY, nullable=False),
        sa.Column("window_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stability_pulls")),
        sa.UniqueConstraint(
            "site",
            "study",
            "condition",
            "months",
            name=op.f("uq_stability_pulls_site_study_condition_months"),
        ),
    )
    op.create_index(
        "ix_stability_pulls_series", "stability_pulls", ["site", "product", "condition"]
    )


def _alerts() -> None:
    op.create_table(
        "oot_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", _KEY, nullable=False),
        sa.Column("code", _KEY, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("result", _KEY, nullable=False),
        sa.Column("sample", _KEY, nullable=False),
        sa.Column("batch", _KEY, nullable=True),
        sa.Column("test_code", _KEY, nullable=False),
        sa.Column("series", sa.String(length=200), nullable=False),
        sa.Column("time", _KEY, nullable=False),
        sa.Column("value", _KEY, nullable=False),
        sa.Column("predicted", _KEY, nullable=False),
        sa.Column("lower", _KEY, nullable=False),
        sa.Column("upper", _KEY, nullable=False),
        sa.Column("alpha", _KEY, nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("history_size", sa.Integer(), nullable=False),
        sa.Column("raised_at", _TIME, nullable=False),
        sa.Column("raised_by", _KEY, nullable=False),
        sa.Column("analyst", _KEY, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("acknowledged_by", _KEY, nullable=True),
        sa.Column("acknowledged_at", _TIME, nullable=True),
        sa.Column("assessment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oot_alerts")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_oot_alerts_site_code")),
        sa.UniqueConstraint("site", "result", name=op.f("uq_oot_alerts_site_result")),
    )
    with op.batch_alter_table("oot_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oot_alerts_batch"), ["batch"], unique=False)
        batch_op.create_index(batch_op.f("ix_oot_alerts_status"), ["status"], unique=False)


def downgrade() -> None:
    for table in GUARDED:
        _unguard(table)
    with op.batch_alter_table("oot_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oot_alerts_status"))
        batch_op.drop_index(batch_op.f("ix_oot_alerts_batch"))
    op.drop_table("oot_alerts")
    op.drop_index("ix_stability_pulls_series", table_name="stability_pulls")
    op.drop_table("stability_pulls")
    op.drop_table("stability_studies")
    op.drop_column("samples", "stability_study")
    for table in ("samples", "sampling_points"):
        op.drop_column(table, "trended")


# Studies, pulls and alerts change (UPDATE) but are never removed: GxP evidence.
GUARDED = ("stability_studies", "stability_pulls", "oot_alerts")


def _guard(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'labgate: DELETE on {table} is refused: "
            "GxP records are append-only'); END"
        )
        return
    op.execute(
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION labgate_refuse()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION labgate_refuse()"
    )


def _unguard(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}")
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
