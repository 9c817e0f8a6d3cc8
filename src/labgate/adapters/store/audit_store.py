"""The audit trail's anchors in the store: the head row, the signed checkpoints, a consistent
read of the whole trail, and the making of a checkpoint."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_parallel import cpus, walk_in_parallel
from labgate.adapters.store.audit_scan import scan_seals
from labgate.adapters.store.engine import WRITE
from labgate.adapters.store.uow import SqlUnitOfWork
from labgate.adapters.store.writer_turns import writer_turn
from labgate.compliance.audit import GENESIS_HASH, AuditDraft, StoredSeal, verify_chain
from labgate.compliance.checkpoints import (
    Checkpoint,
    Head,
    TrailBroken,
    TrailReport,
    Walk,
    Walker,
    sign_checkpoint,
    verify_walked,
    walk,
)
from labgate.compliance.signer import Signer

c, a = t.audit_checkpoints.c, t.audit_entries.c
_HEAD = select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1)


@contextmanager
def snapshot(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session that sees the head, the checkpoints and the entries as of one moment, while
    writers go on appending (PostgreSQL: REPEATABLE READ; SQLite: one WAL read transaction).
    Otherwise an entry appended between two reads would look like a forged or missing one."""
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


def read_head(session: Session) -> Head:
    """The head row: the newest entry's seq and hash as the appenders left it."""
    row = session.execute(_HEAD).one()
    return Head(int(row.seq), row.hash)


def read_checkpoints(session: Session) -> list[Checkpoint]:
    """Every checkpoint, oldest first."""
    rows = session.execute(select(t.audit_checkpoints).order_by(c.seq)).mappings()
    return [checkpoint_of(r) for r in rows]


def checkpoint_of(r: Any) -> Checkpoint:
    """One stored (or exported) checkpoint."""
    return Checkpoint(r["seq"], r["hash"], r["at"], r["kid"], dict(r["public_jwk"]), r["signature"])


def verify_stored(
    session: Session,
    trusted: Sequence[dict[str, Any]] = (),
    parallel_from: int | None = None,
) -> TrailReport:
    """Check the stored trail: chain, head and checkpoints. Best in a `snapshot` session; in
    any other the reads are ordered so that writers appending meanwhile raise no alarm. A trail
    of `parallel_from` entries or more is walked in ranges, one forked process per CPU: only
    for a single-threaded caller (the CLI), never inside a server's threads."""
    # Checkpoints first, then the head: a checkpoint made meanwhile never names an entry past
    # the head read. Entries up to that head only: later ones may be appending right now.
    checkpoints = read_checkpoints(session)
    head = read_head(session)
    walker = _walker(session, head, parallel_from)
    report = verify_walked(walker, head, checkpoints, trusted)
    beyond = session.scalar(select(func.max(a.seq))) or 0
    if report.ok and beyond > head.seq and read_head(session).seq < beyond:
        problem = (f"the trail holds entries up to {beyond}, past its head (entry {head.seq}): "
                   "they were added behind labgate's back")  # fmt: skip
        return replace(report, first_broken=head.seq + 1, problem=problem,
                       reason="audit.head_mismatch")  # fmt: skip
    return report


def _walker(session: Session, head: Head, parallel_from: int | None) -> Walker:
    def walker(wanted: frozenset[int]) -> Walk:
        parts = cpus()
        if parallel_from is not None and head.seq >= parallel_from and parts > 1:
            walked = walk_in_parallel(session, head.seq, wanted, parts)
            if walked is not None:
                return walked
        with closing(scan_seals(session, last=head.seq)) as seals:
            return walk(seals, wanted)

    return walker


def make_checkpoint(
    sessions: sessionmaker[Session], signer: Signer, at: datetime, actor: str = "labgate"
) -> Checkpoint:
    """Sign the head as it is now, once the entries since the previous checkpoint check out;
    the newest checkpoint if the head has not moved since. TrailBroken if they do not, audited
    (`refused.audit_checkpoint`) in a transaction of its own."""
    try:
        return _make(sessions, signer, at)
    except TrailBroken as error:
        if error.reason != "audit.empty":  # nothing to vouch for is no finding
            _audit_refusal(sessions, error, actor, at)
        raise


def _make(sessions: sessionmaker[Session], signer: Signer, at: datetime) -> Checkpoint:
    with writer_turn(sessions), sessions() as session:
        # A writer's transaction (SQLite: BEGIN IMMEDIATE) with the head row locked: no entry
        # is appended between the check and the signature.
        session.connection(execution_options={WRITE: True})
        head = Head(*session.execute(_HEAD.with_for_update()).one())
        if head.seq == 0:
            raise TrailBroken(
                "The audit trail is empty: there is no entry for a checkpoint to vouch for.",
                reason="audit.empty",
                field="seq",
            )
        newest = session.execute(select(t.audit_checkpoints).order_by(c.seq.desc()).limit(1))
        last = next((checkpoint_of(r) for r in newest.mappings()), None)
        if last is not None and last.seq == head.seq:
            return last
        _check_since(session, last, head)
        made = sign_checkpoint(head, at, signer)
        session.execute(insert(t.audit_checkpoints).values(_row(made)))
        session.commit()
        return made


def _check_since(session: Session, last: Checkpoint | None, head: Head) -> None:
    # Only the entries since the previous checkpoint are walked (what came before it was
    # checked when it was signed), so the relay can make one every few minutes cheaply.
    after, prev = (last.seq, last.hash) if last else (0, GENESIS_HASH)
    if last is not None:
        stored = session.scalar(
            select(t.audit_entries.c.hash).where(t.audit_entries.c.seq == after)
        )
        if stored != last.hash:
            raise TrailBroken(
                f"Entry {after} no longer carries the hash the previous checkpoint signed: the "
                "chain was re-sealed or cut; run `labgate audit verify`.",
                reason="audit.resealed",
                field="seq",
            )
    ends = [Head(after, prev)]

    def watched(seals: Iterator[StoredSeal]) -> Iterator[StoredSeal]:
        for entry in seals:
            ends[0] = Head(entry.seq, entry.hash)
            yield entry

    with closing(scan_seals(session, first=after + 1)) as seals:
        report = verify_chain(watched(seals), after, prev)
    if not report.ok:
        raise TrailBroken(
            f"Audit entry {report.first_broken} does not check out ({report.problem}); no "
            "checkpoint is signed over a broken chain. Run `labgate audit verify`.",
            field="seq",
        )
    if ends[0] != head:
        raise TrailBroken(
            f"The trail ends at entry {ends[0].seq}, but its head names entry {head.seq} with "
            "another hash: entries were cut or re-sealed; run `labgate audit verify`.",
            reason="audit.head_mismatch",
            field="seq",
        )


def _audit_refusal(
    sessions: sessionmaker[Session], error: TrailBroken, actor: str, at: datetime
) -> None:
    uow = SqlUnitOfWork(sessions)
    with uow:
        uow.audit(
            AuditDraft(
                actor=actor,
                actor_kind="system",
                action="refused.audit_checkpoint",
                record_type="audit_trail",
                record_id="checkpoint",
                at=at,
                after={"reason": error.reason, "field": error.field},
                reason=error.message,
            )
        )
        uow.commit()


def _row(made: Checkpoint) -> dict[str, Any]:
    return {"seq": made.seq, "hash": made.hash, "at": made.at, "kid": made.kid,
            "public_jwk": made.public_jwk, "signature": made.signature}  # fmt: skip
