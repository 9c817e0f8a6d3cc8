"""A batch's expiry date: date of manufacture plus the shelf life in calendar months, the day
clamped to the last day of a shorter month; none when either input is not known."""

from __future__ import annotations

from datetime import date

import pytest

from labgate.domain.shelf_life import MAX_SHELF_LIFE_MONTHS, add_months, expiry_date


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),  # end of month: February has no 31st
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # ... and in a leap year its 29th
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),  # a leap day, one year on
        (date(2028, 2, 29), 48, date(2032, 2, 29)),  # ... four years on, a leap day again
        (date(2026, 5, 31), 1, date(2026, 6, 30)),  # a 30-day month
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),  # across the year, the day kept
        (date(2026, 3, 2), 36, date(2029, 3, 2)),  # the day kept where the month has it
        (date(2026, 3, 2), 0, date(2026, 3, 2)),
        (date(2026, 1, 15), MAX_SHELF_LIFE_MONTHS, date(2126, 1, 15)),
    ],
)
def test_months_are_calendar_months_clamped_to_the_end_of_a_shorter_month(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


def test_a_negative_number_of_months_is_refused() -> None:
    with pytest.raises(ValueError, match="-1"):
        add_months(date(2026, 3, 2), -1)


def test_the_expiry_is_known_only_from_both_inputs() -> None:
    assert expiry_date(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert expiry_date(date(2027, 1, 31), None) is None  # no shelf life in master data
    assert expiry_date(None, 36) is None  # no date of manufacture
    assert expiry_date(None, None) is None
