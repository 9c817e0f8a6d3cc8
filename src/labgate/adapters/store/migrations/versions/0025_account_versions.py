"""config_versions: a version for the system accounts, which every API request reads

A request with an API key finds its system account in a per-process cache, checked by one
SELECT of the versions; every change of an account (roles, API key, deactivation, a lock, a
failed sign-in) moves the version in the change's transaction.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    versions = sa.table("config_versions", sa.column("kind", sa.String), sa.column("version"))
    op.bulk_insert(versions, [{"kind": "accounts", "version": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM config_versions WHERE kind = 'accounts'")
