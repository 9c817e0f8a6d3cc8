"""The relay's bell: who wakes whom.

    a unit of work commits outbox rows ──▶ the hub's RelayBell rings (same process)
    on PostgreSQL the same transaction NOTIFYs ──▶ a listener in each relay process rings its bell
    the bell ──▶ RelayLoop (relay_loop.py) runs a pass at once

Standard library only: every command that opens the database makes one.
"""

from __future__ import annotations

import threading
from typing import Protocol


class Bell(Protocol):
    """What a committed outbox row rings: the relay may have something to send."""

    def ring(self) -> None:
        """Say so; never blocks, never fails."""
        ...


class RelayBell:
    """A bell relays in this process wait on. Rings are counted rather than latched, so a ring
    during a pass is never lost (the loop looks again) and several relays may wait on one bell."""

    def __init__(self) -> None:
        # Re-entrant: a signal handler (SIGTERM stopping the loop) may ring in the very thread
        # that holds the lock to look at the count.
        self._change = threading.Condition(threading.RLock())
        self._rings = 0

    def ring(self) -> None:
        """Wake every waiter."""
        with self._change:
            self._rings += 1
            self._change.notify_all()

    @property
    def rings(self) -> int:
        """How many times it rang so far."""
        with self._change:
            return self._rings

    def wait(self, after: int, timeout: float) -> bool:
        """Until it has rung more than `after` times, or `timeout` seconds; whether it rang."""
        with self._change:
            return self._change.wait_for(lambda: self._rings > after, timeout)
