"""Domain rules of numbers and units: arithmetic on values from outside keeps every digit, and a
unit converts only within its declared quantity kind."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from fakes import TableUnits
from labgate.adapters.trend_check import regression_trend_check
from labgate.domain.errors import InvalidInput, UnitError
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.limits import LimitRule, evaluate, parse_limit
from labgate.domain.numbers import (
    RoundingPolicy,
    RoundingRule,
    exact_difference,
    exact_product,
    round_to_places,
)
from labgate.domain.samples import NewResult, PlannedTest, Sample, result_content
from labgate.domain.status_map import StatusMap
from labgate.domain.trending import TrendObservation
from labgate.domain.units import UnitDictionary

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
KINDS = {"%": "mass fraction", "mg/g": "mass fraction", "pH": "pH", "g": "mass"}
USP = RoundingPolicy(RoundingRule.USP)


def long_decimal(rng: random.Random) -> Decimal:
    """A finite decimal of 1 to 120 digits at an exponent between -60 and +30."""
    digits = rng.randint(1, 120)
    coefficient = rng.randrange(10 ** (digits - 1), 10**digits)
    return Decimal((rng.randint(0, 1), tuple(map(int, str(coefficient))), rng.randint(-60, 30)))


CASES = [
    (long_decimal(random.Random(n)), long_decimal(random.Random(n + 10_000))) for n in range(400)
]


@pytest.mark.parametrize(("a", "b"), CASES[:200])
def test_a_product_keeps_every_digit(a: Decimal, b: Decimal) -> None:
    assert Fraction(exact_product(a, b)) == Fraction(a) * Fraction(b)


@pytest.mark.parametrize(("a", "b"), CASES[200:])
def test_a_difference_keeps_every_digit(a: Decimal, b: Decimal) -> None:
    assert Fraction(exact_difference(a, b)) == Fraction(a) - Fraction(b)


def usp_reference(value: Decimal, places: int) -> Fraction:
    """Round half away from zero in rational arithmetic: no context, no digits lost."""
    scaled = abs(Fraction(value)) * 10**places
    whole = int(scaled)
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Fraction(-whole if value < 0 else whole, 10**places)


@pytest.mark.parametrize("n", range(200))
def test_a_long_value_converted_then_rounded_is_rounded_once(n: int) -> None:
    rng = random.Random(n)
    value = long_decimal(rng)
    factor = Decimal(1).scaleb(rng.randint(-4, 4))  # %, mg/g, ppm, mg/kg: powers of ten
    places = rng.randint(0, 6)
    converted = exact_product(value, factor)
    rounded = round_to_places(converted, places, RoundingRule.USP)
    assert Fraction(converted) == Fraction(value) * Fraction(factor)
    assert Fraction(rounded) == usp_reference(converted, places)


@pytest.mark.parametrize(
    ("limit", "value", "reported", "conforms"),
    [
        ("97.0-103.0", "96.9499999999999999999999999999", "96.9", False),
        ("NMT 0.10", "0.1049999999999999999999999999999", "0.10", True),
        ("NMT 0.10", "0.10500000000000000000000000000000000000000000000001", "0.11", False),
    ],
)
def test_the_findings_numbers_are_judged_on_every_digit(
    limit: str, value: str, reported: str, conforms: bool
) -> None:
    converted = exact_product(Decimal(value), Decimal(1))
    outcome = evaluate(converted, LimitRule("A", parse_limit(limit)), USP)
    assert (str(outcome.reported), outcome.conforms) == (reported, conforms)


def units() -> UnitDictionary:
    return UnitDictionary(KINDS, TableUnits({("mg/g", "%"): "0.1", ("pH", "%"): "100"}))


def test_units_of_one_kind_convert() -> None:
    assert units().factor("mg/g", "%") == Decimal("0.1")
    assert units().factor("pH", "pH") == 1


@pytest.mark.requirement("URS-TX-004", category="negative")
@pytest.mark.parametrize(("source", "target"), [("pH", "%"), ("%", "pH"), ("g", "%")])
def test_units_of_different_kinds_never_convert(source: str, target: str) -> None:
    # The table would answer pH -> %, as pint does: the kinds refuse it first.
    with pytest.raises(UnitError) as refused:
        units().factor(source, target)
    assert (refused.value.reason, refused.value.field) == ("unit.unconvertible", "unit")
    assert KINDS[source] in refused.value.message and KINDS[target] in refused.value.message


def test_a_unit_outside_the_dictionary_is_unknown() -> None:
    with pytest.raises(UnitError) as refused:
        units().factor("pct", "%")
    assert refused.value.reason == "unit.unknown"


def sample(*tests: PlannedTest) -> Sample:
    registered = Sample("S1", "S-1", "P1", "SPEC", 1, AT, "mes", tests=list(tests))
    registered.status = SampleStatus.REGISTERED
    return registered


ASSAY = PlannedTest("ASSAY", "M", "1", "NLT 98.0", "%", RoundingRule.USP)
APPEAR = PlannedTest("APPEAR", "M", "1", "CONFORMS: White", None, RoundingRule.ABSOLUTE)


def test_a_text_test_sent_a_unit_is_refused() -> None:
    new = NewResult("S-1-R1", "APPEAR", "White", "%", "1", "ana")
    with pytest.raises(InvalidInput) as refused:
        sample(APPEAR).record_result(new, AT, units(), StatusMap())
    assert (refused.value.reason, refused.value.field) == ("unit.not_expected", "unit")


@pytest.mark.requirement("URS-TX-004")
def test_the_unit_as_sent_is_kept_beside_the_unit_it_resolved_to() -> None:
    taken = sample(ASSAY)
    new = NewResult("S-1-R1", "ASSAY", "993.0", "mg/g", "1", "ana", unit_as_sent="mg/gram")
    result = taken.record_result(new, AT, units(), StatusMap())
    assert (result.raw_unit, result.resolved_unit, result.canonical_unit) == (
        "mg/gram",
        "mg/g",
        "%",
    )
    assert (result.conversion_factor, result.canonical_value) == (Decimal("0.1"), Decimal("99.30"))
    assert result_content(taken, result)["resolved_unit"] == "mg/g"  # signed, being an alias


def test_a_result_in_its_own_unit_signs_the_content_it_always_had() -> None:
    taken = sample(ASSAY)
    result = taken.record_result(
        NewResult("S-1-R1", "ASSAY", "99.1", "%", "1", "ana"), AT, units(), StatusMap()
    )
    assert (result.raw_unit, result.resolved_unit) == ("%", "%")
    # No new key: signatures over results made before the unit as sent was kept still verify.
    assert "resolved_unit" not in result_content(taken, result)


def trend(scale: str) -> list[TrendObservation]:
    return [TrendObservation(f"B{i}", Decimal(i), Decimal(scale) * Decimal(f"1.{i * 3 % 10}"))
            for i in range(6)]  # fmt: skip


def test_a_trend_of_large_values_is_judged_without_a_context_error() -> None:
    # Four places under the default 28-digit context raised InvalidOperation from 1E+24 up.
    new = TrendObservation("N", Decimal(6), Decimal("1.2E+25"))
    verdict = regression_trend_check(trend("1E+25"), new, Decimal("0.01"))
    assert verdict is not None and verdict.lower < verdict.predicted < verdict.upper


@pytest.mark.parametrize("scale", ["1E+300", "1E+999"])
def test_values_beyond_a_float_fit_give_no_verdict(scale: str) -> None:
    new = TrendObservation("N", Decimal(6), Decimal(scale))
    assert regression_trend_check(trend(scale), new, Decimal("0.01")) is None
