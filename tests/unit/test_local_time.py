"""Times as a site reads them: to the second, in its zone, with the offset; summer time too."""

from __future__ import annotations

from datetime import UTC, datetime

from labgate.domain.local_time import known_zone, shown_at, shown_date


def test_a_stored_utc_time_shows_in_the_site_zone_with_its_offset() -> None:
    assert shown_at("2026-11-25T09:15:03.999999Z", "Europe/Zurich") == "2026-11-25 10:15:03 +01:00"
    assert shown_at("2026-07-01T09:15:03.000000Z", "Europe/Zurich") == "2026-07-01 11:15:03 +02:00"
    moment = datetime(2026, 11, 25, 9, 15, 3, tzinfo=UTC)
    assert shown_at(moment, "America/New_York") == "2026-11-25 04:15:03 -05:00"
    assert shown_at(moment, "Asia/Kolkata") == "2026-11-25 14:45:03 +05:30"
    assert shown_at(None, "UTC") is None


def test_the_date_is_the_sites_calendar_date() -> None:
    assert shown_date("2026-11-01T23:30:00Z", "Europe/Zurich") == "2026-11-02"
    assert shown_date("2026-11-01T23:30:00Z", "UTC") == "2026-11-01"


def test_only_iana_zones_are_known() -> None:
    assert known_zone("Europe/Zurich") and known_zone("UTC")
    assert not known_zone("Europe/Basel") and not known_zone("../etc/passwd")
