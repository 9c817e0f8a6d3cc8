"""IPC gates: what the gates see of each sample, and what the MES was told

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("sampling_point", sa.String(length=64), nullable=False),
        sa.Column("sample", sa.String(length=64), nullable=False),
        sa.Column(
            "mes_status",
            sa.Enum(
                "Pending",
                "Accepted",
                "Rejected",
                name="messtatus",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_entries")),
        sa.UniqueConstraint("site", "sample", name=op.f("uq_gate_entries_site_sample")),
    )
    op.create_index("ix_gate_entries_point", "gate_entries", ["site", "batch", "sampling_point"])
    op.create_table(
        "gates_told",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=300), nullable=False),
        sa.Column("may_complete", sa.Boolean(), nullable=False),
        sa.Column("waiting_for", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gates_told")),
    )
    op.create_index("ix_gates_told_batch", "gates_told", ["site", "batch"])
    upgrade_data()


def upgrade_data() -> None:
    """Samples drawn at sampling points before this revision enter the gates with their MES
    status, worked out as the domain does (domain/samples.py `Sample.mes_status`): Rejected if
    any test's first live result is, Accepted when every open test's is."""
    bind = op.get_bind()
    samples = bind.execute(
        sa.text(
            "SELECT id, site, batch, sampling_point, code, status FROM samples "
            "WHERE batch IS NOT NULL AND sampling_point IS NOT NULL ORDER BY id"
        )
    ).all()
    if not samples:
        return
    tests: dict[int, list[str]] = {}
    for row in bind.execute(
        sa.text("SELECT sample_id, test_code FROM planned_tests WHERE status != 'cancelled'")
    ):
        tests.setdefault(row.sample_id, []).append(row.test_code)
    first_live: dict[tuple[int, str], str] = {}
    for row in bind.execute(
        sa.text(
            "SELECT sample_id, test_code, mes_status FROM results "
            "WHERE status != 'invalidated' ORDER BY id"
        )
    ):
        first_live.setdefault((row.sample_id, row.test_code), row.mes_status)
    entries: list[dict[str, Any]] = []
    for sample in samples:
        statuses = [first_live.get((sample.id, code)) for code in tests.get(sample.id, [])]
        if "Rejected" in statuses:
            status = "Rejected"
        elif statuses and all(s == "Accepted" for s in statuses):
            status = "Accepted"
        else:
            status = "Pending"
        entries.append({
            "site": sample.site, "batch": sample.batch, "sampling_point": sample.sampling_point,
            "sample": sample.code, "mes_status": status,
            "cancelled": sample.status == "cancelled",
        })  # fmt: skip
    table = sa.table(
        "gate_entries",
        *(sa.column(name) for name in ("site", "batch", "sampling_point", "sample", "mes_status")),
        sa.column("cancelled", sa.Boolean()),
    )
    op.bulk_insert(table, entries)


def downgrade() -> None:
    op.drop_index("ix_gates_told_batch", table_name="gates_told")
    op.drop_table("gates_told")
    op.drop_index("ix_gate_entries_point", table_name="gate_entries")
    op.drop_table("gate_entries")
