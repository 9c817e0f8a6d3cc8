"""Trusted time: the hub's clock checked against an NTP server (Part 11 §11.10(e): "time-stamped"
means a time one can trust). Every timestamp labgate writes comes from the host's clock; this
is how a plant knows that clock is right, and when it was not.

A check is one reading of the offset (how far the NTP server's time is ahead of ours) and the
round-trip delay. Its status: `ok` within the threshold, `drift` beyond it, `unreachable` when
no answer came. The state per server remembers the status a run of checks is in, so a drift is
audited when it starts, again at every check while it lasts, and its end is audited once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ClockStatus(StrEnum):
    """What a check found."""

    OK = "ok"
    DRIFT = "drift"
    UNREACHABLE = "unreachable"


@dataclass
class ClockCheck:
    """One check of the hub's clock against `server`, kept as history (never changed)."""

    server: str
    checked_at: datetime
    status: ClockStatus
    threshold_ms: float
    offset_ms: float | None = None
    delay_ms: float | None = None
    detail: str = ""

    def summary(self) -> dict[str, object]:
        """As the audit trail records it: milliseconds as decimal text (canonical JSON has no
        binary floats, so a hash never depends on how one prints)."""
        return {
            "server": self.server,
            "status": self.status.value,
            "offset_ms": _ms(self.offset_ms),
            "delay_ms": _ms(self.delay_ms),
            "threshold_ms": _ms(self.threshold_ms),
            "detail": self.detail,
        }


def _ms(value: float | None) -> str | None:
    return None if value is None else f"{value:.3f}"


@dataclass
class ClockState:
    """The status a server's checks are in, since when, and the last check (one row a server,
    locked while a check is recorded, so two processes checking at once take turns)."""

    server: str
    status: ClockStatus
    since: datetime
    last_checked_at: datetime
    last_offset_ms: float | None = None


def judged(
    server: str,
    checked_at: datetime,
    threshold_ms: float,
    offset_s: float,
    delay_s: float,
) -> ClockCheck:
    """A reading judged against the threshold: drift when |offset| exceeds it."""
    offset_ms, delay_ms = round(offset_s * 1000, 3), round(delay_s * 1000, 3)
    if abs(offset_ms) > threshold_ms:
        ahead = "ahead of" if offset_ms < 0 else "behind"
        detail = (
            f"The hub's clock is {abs(offset_ms):.1f} ms {ahead} {server}: more than the "
            f"{threshold_ms:g} ms allowed."
        )
        return ClockCheck(server, checked_at, ClockStatus.DRIFT, threshold_ms, offset_ms,
                          delay_ms, detail)  # fmt: skip
    detail = f"Within {threshold_ms:g} ms of {server} (offset {offset_ms:+.1f} ms)."
    return ClockCheck(server, checked_at, ClockStatus.OK, threshold_ms, offset_ms, delay_ms, detail)


def unreachable(server: str, checked_at: datetime, threshold_ms: float, why: str) -> ClockCheck:
    """No reading: the clock could not be checked, which is an alarm of its own."""
    detail = f"No answer from {server}: {why}. The hub's clock is not checked."
    return ClockCheck(server, checked_at, ClockStatus.UNREACHABLE, threshold_ms, detail=detail)


def audited_action(check: ClockCheck, state: ClockState | None) -> str | None:
    """The audit action a check calls for: every check not ok (`clock.drift`,
    `clock.unreachable`), the first ok after one (`clock.recovered`), else none (an ok run
    is history enough)."""
    if check.status is not ClockStatus.OK:
        return f"clock.{check.status.value}"
    if state is not None and state.status is not ClockStatus.OK:
        return "clock.recovered"
    return None
