"""The data-quality runs the relay makes on schedule (`Periodic` in relay.py), apart from the
`labgate dq` commands so that the relay imports nothing of the CLI's wiring."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.config import dq_windows
from labgate.domain.commands import Context
from labgate.domain.dq_commands import RunDataQuality

if TYPE_CHECKING:  # the relay and the CLI pass their hub; importing it here costs start-up
    from labgate.bootstrap import Hub

DQ_ACTOR = "labgate-dq"  # the scheduler: the 'analyst' of the deviations its runs open
log = logging.getLogger("labgate.dq")


def site_codes(hub: Hub) -> list[str]:
    """Every site, by code."""
    with hub.sessions() as session:
        return list(session.scalars(select(t.sites.c.code).order_by(t.sites.c.code)))


class DqSchedule:
    """Runs the rules at every site after a relay pass, every LABGATE_DQ_RUN_SECONDS (0:
    never), the first one interval after start: a restarted relay does not run them at once,
    and `relay run --once` from cron never does (`labgate dq run` is for cron)."""

    def __init__(self, hub: Hub) -> None:
        self.hub, self.every = hub, hub.settings.dq_run_seconds
        self.due = time.monotonic() + self.every

    def __call__(self) -> None:
        """Run if due; a run that fails is logged and tried again next time."""
        if not self.every or time.monotonic() < self.due:
            return
        self.due = time.monotonic() + self.every
        ctx = Context(DQ_ACTOR, "system")
        for site in site_codes(self.hub):
            try:
                self.hub.bus.handle(RunDataQuality(ctx, site, "schedule",
                                                   dq_windows(self.hub.settings)))  # fmt: skip
            except Exception:  # the database went away, say: the next run is tried next time
                log.exception("data-quality run at %s failed", site)
