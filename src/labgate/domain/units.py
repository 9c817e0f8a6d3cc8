"""The unit port and the unit dictionary's rule: a value converts only within one quantity kind.

The converter (pint) knows dimensions, not meaning: to it a pH value and a percentage are both
dimensionless, so 101.2 pH would become 10120 %. Every unit in the dictionary declares its
quantity kind (mass fraction, pH, count per mass, …), and units of different kinds never convert.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol

from labgate.domain.errors import UnitError

__all__ = ["UnitConverter", "UnitDictionary"]


class UnitConverter(Protocol):
    """Converts between unit codes of the unit dictionary."""

    def factor(self, from_unit: str, to_unit: str) -> Decimal:
        """The factor f such that a value in `from_unit` times f is in `to_unit`."""
        ...


class UnitDictionary:
    """The governed units by quantity kind, in front of a converter that works out factors."""

    def __init__(self, kinds: Mapping[str, str], factors: UnitConverter) -> None:
        self._kinds = dict(kinds)
        self._factors = factors

    def factor(self, from_unit: str, to_unit: str) -> Decimal:
        """The exact factor between two units of one kind; any other pair is refused."""
        source, target = self.kind(from_unit), self.kind(to_unit)
        if source != target:
            raise UnitError(
                f"A value in {from_unit} ({source}) cannot be converted to {to_unit} ({target}): "
                "units convert only within one quantity kind.",
                reason="unit.unconvertible",
                field="unit",
            )
        if from_unit == to_unit:
            return Decimal(1)
        return self._factors.factor(from_unit, to_unit)

    def kind(self, code: str) -> str:
        """The quantity kind a unit declares, or `unit.unknown`."""
        try:
            return self._kinds[code]
        except KeyError:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise UnitError(
                f"Unit {code!r} is not in the unit dictionary (known: {known}).",
                reason="unit.unknown",
                field="unit",
            ) from None
