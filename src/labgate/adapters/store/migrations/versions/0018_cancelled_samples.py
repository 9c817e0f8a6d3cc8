"""cancelled samples: what the gates last saw of them says Cancelled, as the status map does

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_data()


def upgrade_data() -> None:
    """A cancelled sample means Cancelled to the MES (it was entered as Pending before)."""
    op.execute("UPDATE gate_entries SET mes_status = 'Cancelled' WHERE cancelled")


def downgrade() -> None:
    op.execute("UPDATE gate_entries SET mes_status = 'Pending' WHERE cancelled")
