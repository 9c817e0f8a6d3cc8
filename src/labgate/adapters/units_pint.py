"""Unit conversion with pint over the unit dictionary's expressions, in exact Decimal arithmetic."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import MAX_EMAX, MIN_EMIN, Decimal, Inexact, localcontext
from typing import Any

import pint

from labgate.domain.errors import UnitError


@functools.cache
def _registry() -> Any:
    """pint's registry, built on the first conversion (~0.3 s: not at every CLI start)."""
    return pint.UnitRegistry(non_int_type=Decimal)


class PintUnitConverter:
    """Converts unit codes via their pint expressions from the unit dictionary."""

    def __init__(self, expressions: Mapping[str, str]) -> None:
        self._expressions = dict(expressions)

    def factor(self, from_unit: str, to_unit: str) -> Decimal:
        """The exact factor from one dictionary unit to another."""
        source, target = self._expression(from_unit, "unit"), self._expression(to_unit, "unit")
        if from_unit == to_unit:
            return Decimal(1)
        try:
            return _factor(source, target)
        except (pint.errors.DimensionalityError, pint.errors.OffsetUnitCalculusError):
            raise UnitError(
                f"A value in {from_unit} cannot be converted to {to_unit}: "
                "they measure different quantities.",
                reason="unit.unconvertible",
                field="unit",
            ) from None
        except Inexact:
            raise UnitError(
                f"The factor from {from_unit} to {to_unit} has no exact decimal form (as 1/3 "
                "has none), and conversions are exact; report the result in another unit.",
                reason="unit.inexact_factor",
                field="unit",
            ) from None

    def _expression(self, code: str, field: str) -> str:
        try:
            return self._expressions[code]
        except KeyError:
            known = ", ".join(sorted(self._expressions)) or "none"
            raise UnitError(
                f"Unit {code!r} is not in the unit dictionary (known: {known}).",
                reason="unit.unknown",
                field=field,
            ) from None


# Far more than any unit definition's digits: a factor that needs more never terminates (1/3).
_FACTOR_DIGITS = 100


@functools.lru_cache(maxsize=4096)
def _factor(source: str, target: str) -> Decimal:
    """The factor between two pint expressions, worked out once: pint takes ~0.1 ms a
    conversion, and a plant's results come in a handful of units (an exception is not cached)."""
    registry = _registry()
    # pint computes in the current Decimal context; the default one keeps 28 digits and rounds
    # the rest silently. Wide, with rounding trapped: a factor is exact, or refused.
    with localcontext(prec=_FACTOR_DIGITS, Emax=MAX_EMAX, Emin=MIN_EMIN) as context:
        context.traps[Inexact] = True
        quantity = registry.Quantity(Decimal(1), source)
        if not quantity._is_multiplicative or not registry.Quantity(1, target)._is_multiplicative:
            raise pint.errors.DimensionalityError(source, target)  # offset units (°C): no factor
        magnitude = quantity.to(target).magnitude
        # Plain notation (10, not 1E+1): the factor is recorded on the result and read by people.
        return Decimal(format(Decimal(magnitude).normalize(), "f"))
