"""inbox: an index on each message's place on its stream

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Releasing held messages finds the next one by (source, stream, sequence); without the
    # index each look-up scans the inbox, and a long backlog of held messages grows quadratic.
    op.create_index(
        "ix_inbox_stream_place", "inbox_messages", ["source", "stream", "sequence"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_stream_place", table_name="inbox_messages")
