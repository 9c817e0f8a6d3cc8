"""The answers of trusted time: the hub's clock against NTP, and each source's clock."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from labgate.entrypoints.api.wire import Answer, Code, Count, UtcTime

ClockStatusName = Literal["ok", "drift", "unreachable"]
Ms = Field(ge=-1e12, le=1e12)


class ClockServerState(Answer):
    """The status a server's checks are in, since when."""

    server: str
    status: ClockStatusName
    since: UtcTime
    last_checked_at: UtcTime
    last_offset_ms: float | None = Field(
        description="How far the server's time was ahead of the hub's (negative: behind).",
        ge=-1e12,
        le=1e12,
    )


class ClockCheckRecord(Answer):
    """One check of the hub's clock."""

    id: int = Field(ge=1, le=2**63 - 1)
    server: str
    checked_at: UtcTime
    status: ClockStatusName
    threshold_ms: float = Ms
    offset_ms: float | None = Field(ge=-1e12, le=1e12)
    delay_ms: float | None = Field(ge=-1e12, le=1e12)
    detail: str


class SourceClock(Answer):
    """A source's clock as its applied envelopes show it: received_at - sent_at, in ms
    (transit included)."""

    source: Code
    messages: Count
    mean_ms: float = Ms
    min_ms: int = Field(ge=-(2**63), le=2**63 - 1)
    max_ms: int = Field(ge=-(2**63), le=2**63 - 1)
    last_ms: int = Field(ge=-(2**63), le=2**63 - 1)
    last_received_at: UtcTime


class ClockOverview(Answer):
    """Trusted time at a glance: is there an alarm, the servers' states, the latest checks and
    the sources' clocks."""

    configured_server: str | None = Field(
        description="LABGATE_NTP_SERVER of this process (null: the clock is not checked)."
    )
    threshold_ms: float = Ms
    alarm: bool = Field(
        description="True when the configured server's last check was not ok, or when it was "
        "never checked though a server is configured."
    )
    states: list[ClockServerState]
    checks: list[ClockCheckRecord] = Field(description="The latest, newest first.")
    sources: list[SourceClock]
