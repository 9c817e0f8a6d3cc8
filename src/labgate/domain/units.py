"""The unit port: the domain asks for a conversion factor, an adapter (pint) answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol


class UnitConverter(Protocol):
    """Converts between unit codes of the unit dictionary."""

    def factor(self, from_unit: str, to_unit: str) -> Decimal:
        """The factor f such that a value in `from_unit` times f is in `to_unit`."""
        ...
