"""environmental monitoring: locations graded, routes, schedules, limits, excursions

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "em_locations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("grade", sa.String(length=32), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_locations")),
        sa.UniqueConstraint("site", "location", name=op.f("uq_em_locations_site_location")),
    )
    op.create_table(
        "em_points",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("sample_type", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("alerts_to_deviation", sa.Integer(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_points")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_em_points_site_code")),
    )
    op.create_table(
        "em_routes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_routes")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_em_routes_site_code")),
    )
    op.create_table(
        "em_schedules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("frequency", sa.String(length=32), nullable=False),
        sa.Column("next_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_schedules")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_em_schedules_site_code")),
    )
    op.create_table(
        "em_site_limits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("grade", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("sample_type", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=True),
        sa.Column("action", sa.Integer(), nullable=True),
        sa.Column("alert", sa.Integer(), nullable=True),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_site_limits")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_em_site_limits_site_code")),
    )
    op.create_table(
        "em_rounds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("schedule", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_rounds")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_em_rounds_site_code")),
    )
    op.create_table(
        "em_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("round", sa.String(length=64), nullable=False),
        sa.Column("point", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("grade", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("sample_type", sa.String(length=32), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("count", sa.String(length=64), nullable=True),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("counted_by", sa.String(length=64), nullable=True),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("action_limit", sa.Integer(), nullable=True),
        sa.Column("alert_limit", sa.Integer(), nullable=True),
        sa.Column("action_source", sa.String(length=200), nullable=True),
        sa.Column("alert_source", sa.String(length=200), nullable=True),
        sa.Column("limit_version", sa.String(length=64), nullable=True),
        sa.Column("excursion", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_samples")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_em_samples_site_code")),
    )
    op.create_table(
        "em_excursions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("sample", sa.String(length=64), nullable=False),
        sa.Column("point", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("count", sa.String(length=64), nullable=False),
        sa.Column("exceeded_limit", sa.Integer(), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deviation", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_excursions")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_em_excursions_site_code")),
    )
    op.create_table(
        "room_occupancy",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("from_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_occupancy")),
    )
    with op.batch_alter_table("em_locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_em_locations_room"), ["room"], unique=False)
    with op.batch_alter_table("em_samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_em_samples_point"), ["point"], unique=False)
    with op.batch_alter_table("em_excursions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_em_excursions_deviation"), ["deviation"], unique=False)
    with op.batch_alter_table("room_occupancy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_occupancy_location"), ["location"], unique=False)
    for table in GUARDED:
        _guard(table)


def downgrade() -> None:
    for table in GUARDED:
        _unguard(table)
    with op.batch_alter_table("em_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_em_locations_room"))
    with op.batch_alter_table("em_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_em_samples_point"))
    with op.batch_alter_table("em_excursions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_em_excursions_deviation"))
    with op.batch_alter_table("room_occupancy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_occupancy_location"))
    op.drop_table("room_occupancy")
    op.drop_table("em_excursions")
    op.drop_table("em_samples")
    op.drop_table("em_rounds")
    op.drop_table("em_site_limits")
    op.drop_table("em_schedules")
    op.drop_table("em_routes")
    op.drop_table("em_points")
    op.drop_table("em_locations")


# EM evidence changes state (UPDATE) but is never removed.
GUARDED = (
    "em_locations",
    "em_points",
    "em_routes",
    "em_schedules",
    "em_site_limits",
    "em_rounds",
    "em_samples",
    "em_excursions",
    "room_occupancy",
)


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
