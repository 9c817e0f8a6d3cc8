"""products: the shelf life in calendar months, from which a CoA states the expiry date

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Stored products have no shelf life (null) until their master data names one: a CoA then
    # says the expiry is not known rather than invent it.
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shelf_life_months", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("shelf_life_months")
