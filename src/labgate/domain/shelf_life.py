"""A batch's expiry date: its date of manufacture plus the product's shelf life in calendar months.

The rule (stated on the CoA): add the months to the month of manufacture and keep the day of
the month; where that month is shorter, the expiry is its last day (31 January + 1 month =
28 February, or 29 February in a leap year; 31 August + 6 months = 28/29 February). The date
is never guessed: with no shelf life in master data, or no date of manufacture, there is none.
"""

from __future__ import annotations

import calendar
from datetime import date

# A shelf life is whole months from 1 to 100 years: enough for any product, and small enough
# that an expiry date stays a calendar date (year 9999 at most) and the stored Integer holds it.
MAX_SHELF_LIFE_MONTHS = 1200

EXPIRY_RULE = (
    "date of manufacture plus the shelf life in calendar months; "
    "where that month has no such day, its last day"
)


def add_months(start: date, months: int) -> date:
    """`start` moved by whole calendar months, the day clamped to the target month's last day."""
    if months < 0:
        raise ValueError(f"months must be 0 or more, not {months}")
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))


def expiry_date(manufactured_on: date | None, shelf_life_months: int | None) -> date | None:
    """The expiry date by the rule above, or None when either of its inputs is not known."""
    if manufactured_on is None or shelf_life_months is None:
        return None
    return add_months(manufactured_on, shelf_life_months)
