"""results.status_map_version: the status map each result's MES status was decided under

0 is the map installed with the hub; N a status-map version a change request put in force
(status_map_versions.version). Results stored before this revision were decided under the map
installed with the hub unless a change request had already put another in force: those few
(change control arrived with 0027) are set from the newest version in force when their audit
trail says the hub decided them.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.add_column(
            sa.Column("status_map_version", sa.Integer, nullable=False, server_default="0")
        )
    # A result decided (recorded or approved: its newest such audit entry) at or after a
    # version's date was decided under the newest such version.
    op.execute(
        """
        UPDATE results SET status_map_version = COALESCE((
            SELECT MAX(v.version) FROM status_map_versions v
            WHERE v.effective_from <= (
                SELECT MAX(a.at) FROM audit_entries a
                WHERE a.record_type = 'result' AND a.record_id = results.code
                  AND a.site = (SELECT s.site FROM samples s WHERE s.id = results.sample_id)
                  AND a.action IN ('result.recorded', 'result.approved')
            )
        ), 0)
        WHERE EXISTS (SELECT 1 FROM status_map_versions)
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.drop_column("status_map_version")
