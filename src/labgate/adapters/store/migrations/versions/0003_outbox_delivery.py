"""outbox delivery: attempts, back-off, dead letters, and the attempt log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch_alter_table: plain ALTER TABLE on PostgreSQL, and on SQLite too for added columns.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        # Gap-free per destination stream, numbered at commit (rows before 0003 have none).
        batch_op.add_column(sa.Column("sequence", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_outbox_due", ["status", "destination", "id"], unique=False)
    op.create_table(
        "outbox_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_outbox_attempts_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attempts")),
    )
    with op.batch_alter_table("outbox_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_attempts_outbox_id"), ["outbox_id"], unique=False
        )
    _guard()


def downgrade() -> None:
    _unguard()
    with op.batch_alter_table("outbox_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_attempts_outbox_id"))
    op.drop_table("outbox_attempts")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.drop_column("sequence")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")


# Messages owed are never pruned (their status changes, the row stays); every attempt is
# evidence and is never changed either.
NO_DELETE = ("outbox", "outbox_attempts")
NO_UPDATE = ("outbox_attempts",)


def _guard() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    guarded = [(t, "DELETE") for t in NO_DELETE] + [(t, "UPDATE") for t in NO_UPDATE]
    for table, op_name in guarded:
        name = f"{table}_no_{op_name.lower()}"
        if sqlite:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {op_name} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, 'labgate: {op_name} on {table} is refused: "
                "GxP records are append-only'); END"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {op_name} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION labgate_refuse()"
            )
    if not sqlite:
        for table in NO_DELETE:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION labgate_refuse()"
            )


def _unguard() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    guarded = [(t, "delete") for t in NO_DELETE] + [(t, "update") for t in NO_UPDATE]
    for table, op_name in guarded:
        on = "" if sqlite else f" ON {table}"
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op_name}{on}")
    if not sqlite:
        for table in NO_DELETE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
