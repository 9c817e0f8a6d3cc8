"""audit: signed checkpoints of the head; outbox rows sealed at commit

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from labgate.adapters.store.types import UtcDateTime
from labgate.compliance.audit import AuditDraft, seal
from labgate.service.outbox.records import content_hash

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Rows owed before the upgrade were made before seals existed: they are sealed as they stand
# now, by an entry that says so. Delivered rows are never sent again and keep no seal.
UNSEALED = ("pending", "dead")
WHY = (
    "Sealed on upgrade to schema 0013: the row was made before rows were sealed at commit, so "
    "this seal vouches for its content as it stood at the upgrade."
)


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )
    _guard()
    # A plain ADD COLUMN on both (batch mode recreates no table for it): the triggers stay.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seal_seq", sa.BigInteger(), nullable=True))
    _seal_owed_rows()
    _guard_content()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(f"DROP TRIGGER IF EXISTS outbox_content_no_update{'' if sqlite else ' ON outbox'}")
    if sqlite:
        # SQLite drops the column in place (3.35+); recreating the table would drop its triggers.
        op.execute("ALTER TABLE outbox DROP COLUMN seal_seq")
    else:
        op.drop_column("outbox", "seal_seq")
    _unguard()
    op.drop_table("audit_checkpoints")


_outbox = sa.table(
    "outbox",
    *(sa.column(n) for n in ("id", "site", "destination", "schema", "message_id")),
    *(sa.column(n) for n in ("correlation_id", "sequence", "status", "message_type")),
    sa.column("payload", sa.JSON()),
    sa.column("seal_seq"),
)
_head = sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
_audit = sa.table(
    "audit_entries",
    *(sa.column(n) for n in ("seq", "site", "actor", "actor_kind", "action", "record_type")),
    *(sa.column(n) for n in ("record_id", "reason", "payload_hash", "correlation_id")),
    *(sa.column(n) for n in ("prev_hash", "hash")),
    sa.column("at", UtcDateTime()),
    sa.column("before", sa.JSON()),
    sa.column("after", sa.JSON()),
)


def _seal_owed_rows() -> None:
    bind = op.get_bind()
    owed = bind.execute(
        sa.select(_outbox).where(_outbox.c.status.in_(UNSEALED)).order_by(_outbox.c.id)
    ).mappings()
    head = bind.execute(sa.select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one()
    seq, prev, now = int(head.seq), head.hash, datetime.now(UTC)
    entries, seals = [], []
    for row in owed:
        seq += 1
        entry = seal(_draft(row, now), seq, prev)
        prev = entry.hash
        entries.append(_entry_row(entry.draft, seq, entry.prev_hash, entry.hash))
        seals.append({"o_id": row["id"], "o_seal": seq})
    if not entries:
        return
    bind.execute(sa.insert(_audit), entries)
    bind.execute(
        sa.update(_outbox)
        .where(_outbox.c.id == sa.bindparam("o_id"))
        .values(seal_seq=sa.bindparam("o_seal")),
        seals,
    )
    bind.execute(sa.update(_head).where(_head.c.id == 1).values(seq=seq, hash=prev))


def _draft(row: Any, now: datetime) -> AuditDraft:
    fields = (row["site"], row["destination"], row["schema"], row["message_id"])
    digest = content_hash(*fields, row["correlation_id"], row["sequence"], row["payload"])
    return AuditDraft(
        actor="labgate-migration",
        actor_kind="system",
        action="outbox.sealed",
        record_type="outbox",
        record_id=row["message_id"],
        at=now,
        after={
            "destination": row["destination"],
            "message_type": row["message_type"],
            "sequence": row["sequence"],
        },
        reason=WHY,
        payload_hash=digest,
        correlation_id=row["correlation_id"],
        site=row["site"],
    )


def _entry_row(d: AuditDraft, seq: int, prev_hash: str, hash_: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": d.at,
        "site": d.site,
        "actor": d.actor,
        "actor_kind": d.actor_kind,
        "action": d.action,
        "record_type": d.record_type,
        "record_id": d.record_id,
        "before": d.before,
        "after": d.after,
        "reason": d.reason,
        "payload_hash": d.payload_hash,
        "correlation_id": d.correlation_id,
        "prev_hash": prev_hash,
        "hash": hash_,
    }


# Checkpoints are evidence like the trail: never changed, never removed.
GUARDED = (("audit_checkpoints", "UPDATE"), ("audit_checkpoints", "DELETE"))


def _guard() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, op_name in GUARDED:
        name = f"{table}_no_{op_name.lower()}"
        if sqlite:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {op_name} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, 'labgate: {op_name} on {table} is refused: "
                "GxP records are append-only'); END"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {op_name} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION labgate_refuse()"
            )
    if not sqlite:
        op.execute(
            "CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints "
            "FOR EACH STATEMENT EXECUTE FUNCTION labgate_refuse()"
        )


# What a row says and its seal never change once committed; the relay moves only its delivery
# state (status, attempts, next_attempt_at, last_error, delivered_at).
CONTENT = ("site", "destination", "message_type", "schema", "message_id", "correlation_id",
           "record_id", "payload", "created_at", "sequence", "seal_seq")  # fmt: skip


def _guard_content() -> None:
    columns = ", ".join(CONTENT)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER outbox_content_no_update BEFORE UPDATE OF {columns} ON outbox "
            "BEGIN SELECT RAISE(ABORT, 'labgate: UPDATE of a message''s content on outbox is "
            "refused: GxP records are append-only'); END"
        )
    else:
        op.execute(
            f"CREATE TRIGGER outbox_content_no_update BEFORE UPDATE OF {columns} ON outbox "
            "FOR EACH ROW EXECUTE FUNCTION labgate_refuse()"
        )


def _unguard() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    names = [f"{table}_no_{op_name.lower()}" for table, op_name in GUARDED]
    if not sqlite:
        names.append("audit_checkpoints_no_truncate")
    for name in names:
        on = "" if sqlite else " ON audit_checkpoints"
        op.execute(f"DROP TRIGGER IF EXISTS {name}{on}")
