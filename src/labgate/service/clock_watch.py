"""Checking the hub's clock: one reading from the NTP server, judged, kept as history, and put
in the audit trail when it is not ok (and when it is ok again). Run by `labgate clock check`
(cron) and by the relay every LABGATE_NTP_CHECK_SECONDS."""

from __future__ import annotations

from collections.abc import Callable

from labgate.compliance.clock import Clock
from labgate.compliance.time_check import (
    ClockCheck,
    ClockState,
    audited_action,
    judged,
    unreachable,
)
from labgate.domain.commands import Context
from labgate.service.handlers.common import record
from labgate.service.unit_of_work import UnitOfWork

CLOCK_ACTOR = "labgate-clock"

# (offset, delay) in seconds; raises ClockUnread when the server gave no answer.
Reading = Callable[[str], tuple[float, float]]


class ClockUnread(Exception):
    """The time source could not be read (why, in words)."""


def check_clock(
    uow: UnitOfWork, clock: Clock, read: Reading, server: str, threshold_ms: float
) -> ClockCheck:
    """Read the offset from `server`, judge it, keep it; audit a drift, an unreachable server
    and the return to ok, with the server's state moved in the same transaction."""
    at = clock.now()
    try:
        offset, delay = read(server)
        check = judged(server, at, threshold_ms, offset, delay)
    except ClockUnread as error:
        check = unreachable(server, at, threshold_ms, str(error))
    with uow:
        state = uow.records.get(ClockState, server=server)
        action = audited_action(check, state)
        if action is not None:
            ctx = Context(CLOCK_ACTOR, "system")
            record(uow, ctx, at, action, ("clock", server, None), after=check.summary(),
                   reason=check.detail)  # fmt: skip
        if state is None:
            uow.records.add(ClockState(server, check.status, at, at, check.offset_ms))
        else:
            if state.status is not check.status:
                state.status, state.since = check.status, at
            state.last_checked_at, state.last_offset_ms = at, check.offset_ms
        uow.records.add(check)
        uow.commit()
    return check
