"""accounts: temporary passwords, reactivation, role policy

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: SQLite's batch mode copies the table and would drop
    # the trigger that refuses deletes on accounts.
    op.add_column(
        "accounts",
        sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # Until now every person's password was chosen by whoever created the account, and there was
    # no way to change it: an administrator may know each one. Each person sets their own at the
    # next sign-in; the password they have still signs them in, for that change only.
    accounts = sa.table(
        "accounts",
        sa.column("kind", sa.String()),
        sa.column("password_hash", sa.String()),
        sa.column("must_change_password", sa.Boolean()),
    )
    op.execute(
        accounts.update()
        .where(accounts.c.kind == "person", accounts.c.password_hash.is_not(None))
        .values(must_change_password=True)
    )


def downgrade() -> None:
    op.drop_column("accounts", "must_change_password")
