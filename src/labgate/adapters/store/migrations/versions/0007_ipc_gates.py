"""sampling points: the IPC gate each one puts on its operation

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing points block, the safe reading of a sampling point nobody classified.
    with op.batch_alter_table("sampling_points", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("gate", sa.String(32), server_default="block", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("sampling_points", schema=None) as batch_op:
        batch_op.drop_column("gate")
