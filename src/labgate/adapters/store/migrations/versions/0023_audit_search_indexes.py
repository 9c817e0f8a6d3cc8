"""audit_entries: indexes for the audit search (by person, action and correlation id)

The console's and the API's audit search filter on these columns; without an index each search
reads the whole trail, which only grows.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

COLUMNS = ("actor", "action", "correlation_id")


def upgrade() -> None:
    for column in COLUMNS:
        op.create_index(op.f(f"ix_audit_entries_{column}"), "audit_entries", [column], unique=False)


def downgrade() -> None:
    for column in reversed(COLUMNS):
        op.drop_index(op.f(f"ix_audit_entries_{column}"), table_name="audit_entries")
