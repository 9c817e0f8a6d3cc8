"""mappings and aliases retired through a master-data change request

A retired mapping binds no sample requested from its date on, a retired alias resolves no code
received from then on; samples bound before keep what they were bound to. `retired_by` names
the change request (SITE/CODE) that retired the record. Both are empty for every stored row.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labgate.adapters.store.types import UtcDateTime

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

TABLES = ("mappings", "aliases")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("retired_from", UtcDateTime))
            batch.add_column(sa.Column("retired_by", sa.String(200)))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("retired_by")
            batch.drop_column("retired_from")
