"""config_versions: one version per kind of configuration that processes keep cached

Every message reads the source keys, the status map, the unit dictionary and the aliases; each
process keeps them between transactions with the version it read them at, and a transaction
checks the versions with one SELECT. Every change of one of them moves its version in the same
transaction, so a revoked key is refused at once by every process.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

KINDS = ("source_keys", "status_map", "units", "aliases")


def upgrade() -> None:
    table = op.create_table(
        "config_versions",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_config_versions")),
    )
    op.bulk_insert(table, [{"kind": kind, "version": 0} for kind in KINDS])


def downgrade() -> None:
    op.drop_table("config_versions")
