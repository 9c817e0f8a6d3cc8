"""Server-side console sessions: the browser holds a random token, the store only its hash.

A session ends when its person signs out or when it has been idle longer than
LABGATE_CONSOLE_IDLE_MINUTES; an ended session never comes back (a new sign-in starts another).
Being heard from is written at most every TOUCH_EVERY, not on every page (a durable write per
page read): the time-out may so come up to that much early, never late.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from labgate.adapters.store import tables as t

COOKIE = "labgate_console"
SIGNED_OUT, IDLE, ACCOUNT_CLOSED = "signed out", "idle time-out", "account locked or deactivated"
REPLACED = "another sign-in in the same browser"  # each why fits the column (64)
TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class ConsoleSession:
    """One live session: whose it is and when the browser was last heard from."""

    token_hash: str
    username: str
    started_at: datetime
    last_seen_at: datetime

    def idle(self, now: datetime, limit: timedelta) -> bool:
        """Whether the browser has been silent longer than `limit`."""
        return now - self.last_seen_at > limit


def token_hash(token: str) -> str:
    """What the store keeps of a session token (SHA-256: the token is 256 random bits, so a
    slow password hash would add nothing)."""
    return hashlib.sha256(token.encode()).hexdigest()


def start(sessions: sessionmaker[Session], username: str, now: datetime) -> str:
    """A new session for `username`; the token for the browser's cookie."""
    token = secrets.token_urlsafe(32)
    row = {"token_hash": token_hash(token), "username": username,
           "started_at": now, "last_seen_at": now}  # fmt: skip
    with sessions.begin() as session:
        session.execute(t.console_sessions.insert().values(row))
    return token


def find(sessions: sessionmaker[Session], token: str | None) -> ConsoleSession | None:
    """The live session the token opens; None for a missing, unknown or ended one."""
    if not token or len(token) > 100:
        return None
    s = t.console_sessions.c
    query = select(s.token_hash, s.username, s.started_at, s.last_seen_at).where(
        s.token_hash == token_hash(token), s.ended_at.is_(None)
    )
    with sessions() as session:
        row = session.execute(query).mappings().one_or_none()
    return None if row is None else ConsoleSession(**row)


def touch(sessions: sessionmaker[Session], found: ConsoleSession, now: datetime) -> None:
    """The browser was heard from: the idle time starts again (written once per TOUCH_EVERY)."""
    if now - found.last_seen_at < TOUCH_EVERY:
        return
    s = t.console_sessions.c
    with sessions.begin() as session:
        session.execute(
            update(t.console_sessions)
            .where(s.token_hash == found.token_hash, s.ended_at.is_(None))
            .values(last_seen_at=now)
        )


def end(sessions: sessionmaker[Session], found: ConsoleSession, now: datetime, why: str) -> bool:
    """End the session; whether this call ended it (two tabs signing out end it once)."""
    s = t.console_sessions.c
    with sessions.begin() as session:
        done = session.execute(
            update(t.console_sessions)
            .where(s.token_hash == found.token_hash, s.ended_at.is_(None))
            .values(ended_at=now, ended_why=why)
        )
    return bool(done.rowcount)  # type: ignore[attr-defined]  # an UPDATE's CursorResult
