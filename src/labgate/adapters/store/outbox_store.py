"""The outbox as the relay and its operators see it, over SQLAlchemy Core: due rows, leases,
attempts, dead letters. Changes that need an audit entry go through the unit of work, so the
row's new state and its entry commit together."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from labgate.adapters.store import tables as t
from labgate.adapters.store.engine import WRITE
from labgate.adapters.store.uow import SqlUnitOfWork
from labgate.adapters.store.writer_turns import writer_turn
from labgate.compliance.audit import AuditDraft
from labgate.compliance.canonical import to_jsonable
from labgate.domain.errors import NotFound
from labgate.service.outbox.records import SEALED
from labgate.service.outbox.relay import DEAD, DELIVERED, HELD, PENDING, Attempt, Delivery

o, a = t.outbox.c, t.audit_entries.c
# Each row with the seal its commit recorded: the `outbox.sealed` entry it points to, found by
# the trail's primary key (and only if that entry is about this very message).
SEALED_ROWS = t.outbox.outerjoin(
    t.audit_entries,
    and_(a.seq == o.seal_seq, a.record_id == o.message_id, a.action == SEALED),
)
DELIVERY_COLUMNS = (o.id, o.site, o.destination, o.schema, o.message_id, o.correlation_id,
                    o.payload, o.status, o.attempts, o.sequence,
                    a.payload_hash.label("seal"))  # fmt: skip


class SqlOutboxStore:
    """The relay's store on SQLite or PostgreSQL."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def due(self, now: datetime, destination: str, limit: int) -> list[Delivery]:
        """Pending rows for `destination` whose next attempt is due, oldest first."""
        query = (
            select(*DELIVERY_COLUMNS)
            .select_from(SEALED_ROWS)
            .where(o.status == PENDING, o.destination == destination, _is_due(now))
            .order_by(o.id)
            .limit(limit)
        )
        with self.sessions() as session:
            return [_delivery(r) for r in session.execute(query).mappings()]

    def claim(self, outbox_id: int, now: datetime, until: datetime) -> int | None:
        """Lease a due row until `until`; its attempts so far, or None if it is not ours."""
        # One conditional UPDATE: of two relays claiming the same row, only one sees it due.
        claimed = (
            update(t.outbox)
            .where(o.id == outbox_id, o.status == PENDING, _is_due(now))
            .values(next_attempt_at=until)
            .returning(o.attempts)
        )
        with self._writing() as session:
            attempts = session.execute(claimed).scalar_one_or_none()
            session.commit()
        return None if attempts is None else int(attempts)

    def record_attempt(self, attempt: Attempt, audit: AuditDraft | None) -> None:
        """Keep the attempt and move the row, with the audit entry if any, in one transaction."""
        uow = SqlUnitOfWork(self.sessions)
        with uow:
            uow.session.execute(insert(t.outbox_attempts).values(_attempt_row(attempt)))
            # Only a row still pending moves: a slow relay never undoes another's delivery.
            moved = uow.session.execute(
                update(t.outbox)
                .where(o.id == attempt.outbox_id, o.status == PENDING)
                .values(_outcome(attempt))
                .returning(o.id)
            ).scalar_one_or_none()
            if audit is not None and moved is not None:
                uow.audit(audit)
            uow.commit()

    def requeue(
        self, message_ids: Sequence[str], check: Callable[[list[Delivery]], list[AuditDraft]]
    ) -> None:
        """Check the rows found, make them pending with a fresh round, audit: one transaction."""
        uow = SqlUnitOfWork(self.sessions)
        with uow:
            query = select(*DELIVERY_COLUMNS).select_from(SEALED_ROWS)
            query = query.where(o.message_id.in_(message_ids)).with_for_update(of=t.outbox)
            found = [_delivery(r) for r in uow.session.execute(query).mappings()]
            drafts = check(found)  # raises to refuse: leaving the block rolls back
            uow.session.execute(
                update(t.outbox)
                .where(o.message_id.in_(message_ids), o.status == DEAD)
                .values(status=PENDING, attempts=0, next_attempt_at=None)
            )
            for draft in drafts:
                uow.audit(draft)
            uow.commit()

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with writer_turn(self.sessions), self.sessions() as session:
            session.connection(execution_options={WRITE: True})  # SQLite: BEGIN IMMEDIATE
            yield session


def _is_due(now: datetime) -> Any:
    return or_(o.next_attempt_at.is_(None), o.next_attempt_at <= now)


def _delivery(row: Any) -> Delivery:
    return Delivery(**{column.key: row[column.key] for column in DELIVERY_COLUMNS})


def _attempt_row(attempt: Attempt) -> dict[str, Any]:
    return {
        "outbox_id": attempt.outbox_id,
        "attempt": attempt.number,
        "attempted_at": attempt.at,
        "outcome": attempt.outcome,
        "detail": attempt.detail,
    }


def _outcome(attempt: Attempt) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": attempt.status,
        "attempts": attempt.number,
        "next_attempt_at": attempt.next_attempt_at,
    }
    if attempt.detail is not None:
        values["last_error"] = attempt.detail
    if attempt.status == DELIVERED:
        values["delivered_at"] = attempt.at
    return values


# --- read models for the API and the CLI ------------------------------------------------------


def dead_query(site: str | None = None, destination: str | None = None) -> Select[Any]:
    """Dead-lettered rows, oldest first."""
    return status_query(DEAD, site, destination)


def held_query(site: str | None = None, destination: str | None = None) -> Select[Any]:
    """Rows held because their content no longer matches their seal, oldest first."""
    return status_query(HELD, site, destination)


def status_query(status: str, site: str | None, destination: str | None) -> Select[Any]:
    """Rows in one delivery status, oldest first."""
    query = select(t.outbox).where(o.status == status).order_by(o.id)
    if site:
        query = query.where(o.site == site)
    return query.where(o.destination == destination) if destination else query


def attempts_view(session: Session, message_id: str) -> dict[str, Any]:
    """One message's delivery state and every attempt made, oldest first; NotFound if unknown."""
    row = session.execute(select(t.outbox).where(o.message_id == message_id)).mappings().first()
    if row is None:
        raise NotFound(
            f"No outbox message {message_id}.", reason="outbox.unknown", field="message_id"
        )
    a = t.outbox_attempts.c
    attempts = session.execute(
        select(a.attempt, a.attempted_at, a.outcome, a.detail)
        .where(a.outbox_id == row["id"])
        .order_by(a.id)
    ).mappings()
    keep = ("message_id", "site", "destination", "message_type", "status", "attempts")
    state = {name: row[name] for name in keep}
    state |= {name: row[name] for name in ("next_attempt_at", "last_error", "delivered_at")}
    view: dict[str, Any] = to_jsonable({**state, "items": [dict(r) for r in attempts]})
    return view
