"""Column types that keep values exact across SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from labgate.compliance.clock import as_utc


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store UTC."""
        return None if value is None else as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return aware UTC."""
        return None if value is None else as_utc(value)


class DecimalText(TypeDecorator[Decimal]):
    """Decimals stored as their exact text: no float, no driver rounding, trailing zeros kept."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        """Store the exact text."""
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Read it back as a Decimal."""
        return None if value is None else Decimal(value)


class LongDecimalText(DecimalText):
    """DecimalText of any length: values derived from a reported one (converted, rounded) keep
    every digit however many the lab sent; 64 characters would refuse them on PostgreSQL only."""

    impl = Text()
    cache_ok = True
