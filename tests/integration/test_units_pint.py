"""Unit conversion through pint: exact factors, clear refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from labgate.adapters.units_pint import PintUnitConverter
from labgate.domain.errors import UnitError

UNITS = PintUnitConverter(
    {
        "%": "percent",
        "mg/g": "mg/g",
        "mg/kg": "mg/kg",
        "ppm": "ppm",
        "g": "g",
        "mg": "mg",
        "degC": "degC",
        "K": "kelvin",
        "CFU/g": "count/g",
        "min": "minute",
        "h": "hour",
    }
)


@pytest.mark.parametrize(
    ("source", "target", "factor"),
    [
        ("%", "mg/g", "10"),
        ("mg/g", "%", "0.1"),
        ("ppm", "mg/kg", "1"),
        ("mg", "g", "0.001"),
        ("g", "mg", "1000"),
        ("%", "%", "1"),
        ("CFU/g", "CFU/g", "1"),
        ("h", "min", "60"),
    ],
)
def test_factors_are_exact_and_plain(source: str, target: str, factor: str) -> None:
    found = UNITS.factor(source, target)
    assert found == Decimal(factor)
    assert str(found) == factor  # recorded on results, read by people: no 1E+1


@pytest.mark.parametrize(
    ("source", "target", "reason"),
    [
        ("furlong", "%", "unit.unknown"),
        ("%", "furlong", "unit.unknown"),
        ("g", "%", "unit.unconvertible"),
        ("degC", "K", "unit.unconvertible"),
        ("min", "h", "unit.inexact_factor"),  # 1/60 has no exact decimal form
    ],
)
def test_refusals_name_the_unit_and_the_rule(source: str, target: str, reason: str) -> None:
    with pytest.raises(UnitError) as refused:
        UNITS.factor(source, target)
    assert (refused.value.reason, refused.value.field) == (reason, "unit")
