"""sampling plans: tests and limit set per sampling point, bound at sampling time

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_KEY = sa.String(length=64)


def upgrade() -> None:
    # Every stored limit line was the specification's own limit, so it joins the release set;
    # every stored sample was judged by those limits, so it is bound to the release set. Stored
    # versions get no plans: a plan is approved with its version, never invented by an upgrade
    # (docs: a plant adds its IPC plans in a new version). Plain ALTER TABLE, not batch mode:
    # SQLite's batch mode copies the table and would drop the append-only triggers on both.
    for table in ("limit_lines", "samples"):
        op.add_column(table, sa.Column("limit_set", _KEY, server_default="release", nullable=False))
    op.create_table(
        "sampling_plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("spec_version_id", sa.Integer(), nullable=False),
        sa.Column("sampling_point", _KEY, nullable=False),
        sa.Column("limit_set", _KEY, nullable=False),
        sa.Column("tests", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["spec_version_id"],
            ["spec_versions.id"],
            name=op.f("fk_sampling_plans_spec_version_id_spec_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sampling_plans")),
        sa.UniqueConstraint(
            "spec_version_id",
            "sampling_point",
            name=op.f("uq_sampling_plans_spec_version_id_sampling_point"),
        ),
    )
    _guard("sampling_plans")


def downgrade() -> None:
    _unguard("sampling_plans")
    op.drop_table("sampling_plans")
    for table in ("samples", "limit_lines"):
        op.drop_column(table, "limit_set")


# A plan is part of its specification version, which is never deleted: neither is the plan.
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
