"""How the console's audit pages read an entry and a search: before/after as a difference by
dotted path with values spelled as sealed, and a wall-clock time at the site as one UTC instant
(refused, naming the field, where the clocks skip it or show it twice)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from labgate.domain.errors import InvalidInput
from labgate.entrypoints.web.audit_reading import FieldChange, difference, local_to_utc


def test_a_difference_lists_removed_added_and_changed_fields_by_dotted_path() -> None:
    before = {"status": "preliminary", "limits": [{"low": "98.0"}], "note": "x", "n": 3, "ok": None}
    after = {"status": "approved", "limits": [{"low": "98.0"}, {"low": "97"}], "n": 3, "ok": True}
    changes, same = difference(before, after)
    assert changes == [
        FieldChange("limits.1.low", "added", None, "97"),
        FieldChange("note", "removed", "x", None),
        FieldChange("ok", "changed", "null", "true"),
        FieldChange("status", "changed", "preliminary", "approved"),
    ]
    assert same == 2  # limits.0.low and n


def test_a_created_record_is_all_added_and_an_empty_member_is_a_field() -> None:
    changes, same = difference(None, {"roles": [], "meta": {}, "value": "1.50"})
    assert [(c.path, c.change, c.after) for c in changes] == [
        ("meta", "added", "{}"), ("roles", "added", "[]"), ("value", "added", "1.50")
    ]  # fmt: skip
    assert same == 0


def test_a_local_time_is_the_instant_at_the_site() -> None:
    assert local_to_utc("2026-11-25T12:00", "Europe/Zurich", "from_local") == datetime(
        2026, 11, 25, 11, 0, tzinfo=UTC
    )
    assert local_to_utc("2026-07-01T12:00:30", "Europe/Zurich", "to_local") == datetime(
        2026, 7, 1, 10, 0, 30, tzinfo=UTC
    )
    assert local_to_utc("", "Europe/Zurich", "to_local") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-03-29T02:30:00", "input.local_time_missing"),  # clocks go forward
        ("2026-10-25T02:30:00", "input.local_time_ambiguous"),  # clocks go back
        ("25.11.2026 12:00", "input.datetime_parsing"),
    ],
)
def test_a_time_the_site_skips_repeats_or_cannot_read_is_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        local_to_utc(text, "Europe/Zurich", "from_local")
    assert (refused.value.reason, refused.value.field) == (reason, "from_local")
