"""SQLite writers of one process take turns in the order they came.

SQLite has one writer at a time. A writer that finds the lock taken is left to the driver's
busy handler, which sleeps and tries again (1, 2, 5, … up to 100 ms between tries): under 50
concurrent REST requests a writer could keep missing its turn while later ones took it, and
wait seconds. Here the writers of one process queue first, and each hands the turn to the next
when its transaction has ended; the busy handler is left with the few writers of other
processes (a relay, a second worker). PostgreSQL needs none of this: it locks rows, not the
database."""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


class WriterTurns:
    """A lock that serves its waiters first come, first served."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        """Wait for the turn; False if `timeout` seconds passed first (the caller goes on
        without it and SQLite's own busy timeout decides, as it did without turns)."""
        with self._guard:
            if not self._held:
                self._held = True
                return True
            handed = threading.Lock()
            handed.acquire()
            self._waiting.append(handed)
        if handed.acquire(timeout=timeout):
            return True
        with self._guard:
            if handed in self._waiting:
                self._waiting.remove(handed)
                return False
        handed.acquire()  # the turn was handed over just as the wait ended: it is ours
        return True

    @property
    def waiting(self) -> int:
        """How many writers wait for the turn now."""
        with self._guard:
            return len(self._waiting)

    def release(self) -> None:
        """End this turn: the longest waiter has it next, or nobody does."""
        with self._guard:
            if self._waiting:
                self._waiting.popleft().release()  # the turn passes without being free
            else:
                self._held = False


_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurns] = weakref.WeakKeyDictionary()
_TURNS_GUARD = threading.Lock()
# As long as a writer waits for SQLite's lock (the engine's busy timeout): past it, the
# transaction is refused as "database is locked" either way.
WAIT_SECONDS = 30.0


@contextmanager
def writer_turn(sessions: sessionmaker[Session]) -> Iterator[None]:
    """Hold this process's writer turn for the block when the sessions are bound to a SQLite
    engine (nothing otherwise)."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        yield
        return
    turns = turns_for(engine)
    held = turns.acquire(WAIT_SECONDS)
    try:
        yield
    finally:
        if held:
            turns.release()


def turns_for(engine: Engine) -> WriterTurns:
    """The writer turns of this process on `engine`."""
    with _TURNS_GUARD:
        return _TURNS.setdefault(engine, WriterTurns())
