"""Times as people read them: to the second, in the site's time zone, with the offset.

Stored and hashed times stay UTC ISO-8601 (promise 5); this is only how they are shown, so a
document or view that shows them changes no signed content."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def known_zone(name: str) -> bool:
    """Whether `name` is a zone of the IANA database (Europe/Zurich, UTC)."""
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def shown_at(moment: datetime | str | None, zone: str) -> str | None:
    """`2026-11-25 10:15:03 +01:00` for an aware time or its ISO text; None stays None."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    local = moment.astimezone(_zone(zone))
    offset = local.strftime("%z")  # +0100: the colon is added for ISO 8601 readers
    return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def shown_date(moment: datetime | str | None, zone: str) -> str | None:
    """The calendar date at the site (`2026-11-25`) of an aware time or its ISO text."""
    shown = shown_at(moment, zone)
    return None if shown is None else shown[:10]


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
