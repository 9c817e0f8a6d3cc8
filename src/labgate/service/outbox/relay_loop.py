"""The relay's running loop: a pass when the bell rings (relay_bell.py), and one every `poll`
seconds in any case, the safety net for what no ring announces (SQLite across processes, a
LISTEN connection being re-made, a failed row whose back-off came due, a lease that ran out)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from labgate.service.outbox.relay import Relay, RelayReport
from labgate.service.outbox.relay_bell import RelayBell

log = logging.getLogger("labgate.relay")


class RelayLoop:
    """Runs relay passes until stopped: one at once whenever the bell rings, and one every
    `poll` seconds in any case. A pass that fails (the database went away, say) is logged and
    the next one tries again."""

    def __init__(
        self,
        relay: Relay,
        bell: RelayBell,
        poll: float,
        after_pass: Callable[[RelayReport], None] = lambda _: None,
    ) -> None:
        if poll <= 0:
            raise ValueError("The relay's poll interval must be positive.")
        self.relay, self.bell, self.poll, self.after_pass = relay, bell, poll, after_pass
        self._stopping = threading.Event()

    def run(self) -> None:
        """Pass, wait for a ring or the poll, pass again; returns once stopped."""
        while not self._stopping.is_set():
            seen = self.bell.rings  # before the pass: a commit during it makes the next one
            self.after_pass(self._pass())
            if not self._stopping.is_set():
                self.bell.wait(seen, self.poll)

    def stop(self) -> None:
        """Let the pass in progress finish, then return from `run` (safe from a signal
        handler or another thread)."""
        self._stopping.set()
        self.bell.ring()

    def _pass(self) -> RelayReport:
        try:
            return self.relay.run_once()
        except Exception:
            log.exception("relay pass failed; the next pass tries again")
            return RelayReport()
