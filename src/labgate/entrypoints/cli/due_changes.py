"""The relay's part that runs change control's due pass (the relay's `Periodic` runs it after
a pass): apart from `labgate change`, which the relay cannot import without a cycle."""

from __future__ import annotations

import logging
import time

from labgate.bootstrap import Hub
from labgate.domain.change_commands import ApplyDueChanges
from labgate.domain.commands import Context

log = logging.getLogger("labgate.change")


class DueChanges:
    """Puts in force the approved requests whose date has come, after a relay pass, at most
    every `every` seconds (0: never): a future-dated approval takes effect without anyone
    running `labgate change apply-due`."""

    def __init__(self, hub: Hub, actor: str, every: float) -> None:
        self.hub, self.actor, self.every = hub, actor, every
        self.due = time.monotonic()

    def __call__(self) -> None:
        """Apply what is due; a failure is logged and tried again next time."""
        if not self.every or time.monotonic() < self.due:
            return
        self.due = time.monotonic() + self.every
        try:
            applied = self.hub.bus.handle(ApplyDueChanges(Context(self.actor, "system")))
        except Exception:  # the database went away, say: the next pass tries again
            log.exception("change requests: the due pass failed")
            return
        if applied:
            log.info("change requests in force: %s", ", ".join(applied))
