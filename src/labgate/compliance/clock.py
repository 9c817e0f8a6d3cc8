"""The trusted clock: every timestamp in labgate comes from one injected source, in UTC."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Protocol

_ISO_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"
_NO_OFFSET = timedelta(0)


class Clock(Protocol):
    """Tells the time, always timezone-aware UTC."""

    def now(self) -> datetime:
        """The current UTC time."""
        ...


class SystemClock:
    """The host's clock (kept honest by NTP on a plant server)."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; naive datetimes (as SQLite returns them) are taken as UTC."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# A transaction stamps one moment on many records (the result, its audit entries, its outbox
# rows), and formatting one costs ~3 µs here: each is formatted once. Equal aware moments are
# the same instant, so they share one UTC form; naive ones are taken as UTC either way.
@functools.lru_cache(maxsize=4096)
def iso_utc(moment: datetime) -> str:
    """`2026-11-25T10:00:00.000000Z`: one fixed form, so hashes never depend on formatting."""
    if not (
        moment.tzinfo is UTC or (moment.tzinfo is not None and moment.utcoffset() == _NO_OFFSET)
    ):
        moment = as_utc(moment)  # not already UTC (whatever its tzinfo object): convert
    text = moment.strftime(_ISO_UTC)
    # glibc's %Y does not pad: the year 362 would read `362-10-20…`, which is not RFC 3339.
    return text if moment.year >= 1000 else f"{moment.year:04d}{text[text.index('-') :]}"
