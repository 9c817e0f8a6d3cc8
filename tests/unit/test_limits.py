"""Limit expressions, bands, and results judged against them after rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from labgate.domain.errors import InvalidInput, InvalidLimit, MalformedNumber
from labgate.domain.limits import (
    Band,
    Evaluation,
    Limit,
    LimitKind,
    LimitRule,
    evaluate,
    parse_limit,
)
from labgate.domain.numbers import RoundingPolicy, RoundingRule

USP = RoundingPolicy(RoundingRule.USP)
E29 = RoundingPolicy(RoundingRule.ASTM_E29)
ABSOLUTE = RoundingPolicy(RoundingRule.ABSOLUTE)
D = Decimal


def rule(limit: str, alert: str | None = None, action: str | None = None) -> LimitRule:
    """Build a limit rule from expressions."""
    return LimitRule(
        test_code="ASSAY",
        limit=parse_limit(limit),
        alert=None if alert is None else parse_limit(alert),
        action=None if action is None else parse_limit(action),
    )


@pytest.mark.parametrize(
    ("expr", "kind", "low", "high", "canonical"),
    [
        ("NLT 98.0", LimitKind.NLT, "98.0", None, "NLT 98.0"),
        ("nlt 98.0", LimitKind.NLT, "98.0", None, "NLT 98.0"),
        ("  Nlt   98.0  ", LimitKind.NLT, "98.0", None, "NLT 98.0"),
        (">= 98.0", LimitKind.NLT, "98.0", None, "NLT 98.0"),
        (">=98.0", LimitKind.NLT, "98.0", None, "NLT 98.0"),
        ("NMT 0.5", LimitKind.NMT, None, "0.5", "NMT 0.5"),
        ("nmt 0.50", LimitKind.NMT, None, "0.50", "NMT 0.50"),
        ("<= 0.5", LimitKind.NMT, None, "0.5", "NMT 0.5"),
        ("NMT 1.2E-3", LimitKind.NMT, None, "0.0012", "NMT 0.0012"),
        ("95.0-105.0", LimitKind.RANGE, "95.0", "105.0", "95.0-105.0"),
        ("95.0 - 105.0", LimitKind.RANGE, "95.0", "105.0", "95.0-105.0"),
        ("95.0 to 105.0", LimitKind.RANGE, "95.0", "105.0", "95.0-105.0"),
        ("95.0 TO 105.0", LimitKind.RANGE, "95.0", "105.0", "95.0-105.0"),
        ("-5.0 to 5.0", LimitKind.RANGE, "-5.0", "5.0", "-5.0 to 5.0"),
        ("-5.0 to -1.0", LimitKind.RANGE, "-5.0", "-1.0", "-5.0 to -1.0"),
        ("-5.0-5.0", LimitKind.RANGE, "-5.0", "5.0", "-5.0 to 5.0"),
        ("7.0-7.0", LimitKind.RANGE, "7.0", "7.0", "7.0-7.0"),
        ("= 7.0", LimitKind.EQUALS, "7.0", "7.0", "= 7.0"),
        ("=7", LimitKind.EQUALS, "7", "7", "= 7"),
        ("EQ 7.0", LimitKind.EQUALS, "7.0", "7.0", "= 7.0"),
        ("eq -1", LimitKind.EQUALS, "-1", "-1", "= -1"),
    ],
)
def test_parse_numeric_limits(
    expr: str, kind: LimitKind, low: str | None, high: str | None, canonical: str
) -> None:
    limit = parse_limit(expr)
    assert limit.kind is kind
    assert (limit.low, limit.high, limit.text) == (
        None if low is None else D(low),
        None if high is None else D(high),
        None,
    )
    assert limit.expression() == canonical
    assert parse_limit(canonical) == limit  # the canonical text reads back as the same limit


@pytest.mark.parametrize(
    ("expr", "text", "canonical"),
    [
        ("CONFORMS", "Conforms", "Conforms"),
        ("conforms", "Conforms", "Conforms"),
        ("CONFORMS: White powder", "White powder", "Conforms: White powder"),
        ("Conforms:White powder  ", "White powder", "Conforms: White powder"),
        ("conforms : Clear, colourless solution", "Clear, colourless solution", None),
    ],
)
def test_parse_conforms_limits(expr: str, text: str, canonical: str | None) -> None:
    limit = parse_limit(expr)
    assert (limit.kind, limit.low, limit.high, limit.text) == (
        LimitKind.CONFORMS_TEXT,
        None,
        None,
        text,
    )
    assert limit.places is None
    assert limit.expression() == (canonical or f"Conforms: {text}")


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "   ",
        "98.0",
        "NLT",
        "NLT abc",
        "NLT 98,0",
        "NLT 98.0%",
        "> 98.0",
        "< 0.5",
        "=< 0.5",
        "NLT 98.0 NMT 102.0",
        "95.0 -",
        "to 105.0",
        "95.0 105.0",
        "95.0 ~ 105.0",
        "CONFORMS:",
        "CONFORMS:   ",
        "Conforms White powder",
        "Complies",
        "NaN-1",
    ],
)
def test_parse_limit_rejects_other_forms(expr: str) -> None:
    with pytest.raises(InvalidLimit) as caught:
        parse_limit(expr, field="spec")
    error = caught.value
    assert (error.reason, error.field) == ("limit.invalid", "spec")
    for form in ("NLT x", "NMT x", "x-y", "x to y", "= x", "CONFORMS"):
        assert form in error.message


@pytest.mark.parametrize("expr", ["105.0-95.0", "5 to -5", "-1.0 to -5.0"])
def test_parse_limit_rejects_inverted_ranges(expr: str) -> None:
    with pytest.raises(InvalidLimit) as caught:
        parse_limit(expr, field="spec")
    assert (caught.value.reason, caught.value.field) == ("limit.range_inverted", "spec")


def test_parse_limit_rejects_out_of_range_numbers() -> None:
    with pytest.raises(MalformedNumber) as caught:
        parse_limit("NLT 1E+5000", field="spec")
    assert (caught.value.reason, caught.value.field) == ("number.out_of_range", "spec")


@pytest.mark.parametrize(
    ("expr", "places"),
    [
        ("NLT 98.0", 1),
        ("NMT 0.50", 2),
        ("95-105.00", 2),
        ("95.000-105.0", 3),
        ("= 7", 0),
        ("NMT 1E+2", 0),
    ],
)
def test_limit_places(expr: str, places: int) -> None:
    assert parse_limit(expr).places == places


@pytest.mark.parametrize(
    ("kind", "low", "high", "text"),
    [
        (LimitKind.NLT, None, None, None),
        (LimitKind.NLT, D(1), D(2), None),
        (LimitKind.NMT, D(1), None, None),
        (LimitKind.RANGE, D(1), None, None),
        (LimitKind.RANGE, D(1), D(2), "text"),
        (LimitKind.EQUALS, D(1), D(2), None),
        (LimitKind.EQUALS, D(1), None, None),
        (LimitKind.CONFORMS_TEXT, None, None, None),
        (LimitKind.CONFORMS_TEXT, None, None, "  "),
        (LimitKind.CONFORMS_TEXT, D(1), None, "White powder"),
    ],
)
def test_limit_refuses_fields_that_do_not_fit_its_kind(
    kind: LimitKind, low: Decimal | None, high: Decimal | None, text: str | None
) -> None:
    with pytest.raises(InvalidLimit) as caught:
        Limit(kind, low, high, text)
    assert (caught.value.reason, caught.value.field) == ("limit.invalid", "limit")


@pytest.mark.parametrize(
    ("expr", "value", "inside"),
    [
        ("NLT 98.0", "98.0", True),
        ("NLT 98.0", "97.9", False),
        ("NMT 0.5", "0.5", True),
        ("NMT 0.5", "0.6", False),
        ("95.0-105.0", "95.0", True),
        ("95.0-105.0", "105.0", True),
        ("95.0-105.0", "105.1", False),
        ("95.0-105.0", "94.9", False),
        ("= 7.0", "7.00", True),
        ("= 7.0", "7.1", False),
    ],
)
def test_limit_contains_with_inclusive_bounds(expr: str, value: str, inside: bool) -> None:
    assert parse_limit(expr).contains(D(value)) is inside


def test_a_text_limit_contains_no_numbers() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_limit("CONFORMS").contains(D(1))
    assert (caught.value.reason, caught.value.field) == ("result.value_kind_mismatch", "value")


@pytest.mark.parametrize(
    ("expr", "value", "policy", "conforms", "reported"),
    [
        # USP 7.20: the rounded value is compared.
        ("NLT 98.0", "97.96", USP, True, "98.0"),
        ("NLT 98.0", "97.92", USP, False, "97.9"),
        ("NLT 98.0", "97.95", USP, True, "98.0"),
        ("NLT 98.0", "97.85", USP, False, "97.9"),
        ("NMT 0.5", "0.54", USP, True, "0.5"),
        ("NMT 0.5", "0.55", USP, False, "0.6"),
        ("NMT 0.5", "0.45", USP, True, "0.5"),
        ("95.0-105.0", "105.04", USP, True, "105.0"),
        ("95.0-105.0", "105.05", USP, False, "105.1"),
        ("= 7.0", "7.04", USP, True, "7.0"),
        ("= 7.0", "6.95", USP, True, "7.0"),
        # ASTM E29 rounding method: ties to even.
        ("NLT 98.0", "97.95", E29, True, "98.0"),
        ("NLT 98.0", "97.85", E29, False, "97.8"),
        ("NMT 0.5", "0.55", E29, False, "0.6"),
        ("NMT 0.4", "0.45", E29, True, "0.4"),
        ("= 7.0", "6.95", E29, True, "7.0"),
        ("= 7.0", "7.05", E29, True, "7.0"),
        # Significant figures replace the limit's places.
        ("NMT 0.123", "0.12345", RoundingPolicy(RoundingRule.USP, 3), True, "0.123"),
        ("NMT 2.34", "2.345", RoundingPolicy(RoundingRule.ASTM_E29, 3), True, "2.34"),
        ("NMT 2.34", "2.345", RoundingPolicy(RoundingRule.USP, 3), False, "2.35"),
    ],
)
def test_evaluate_rounds_then_compares(
    expr: str, value: str, policy: RoundingPolicy, conforms: bool, reported: str
) -> None:
    outcome = evaluate(D(value), rule(expr), policy)
    assert outcome.conforms is conforms
    assert outcome.reported == outcome.compared
    assert str(outcome.reported) == reported
    assert outcome.band is Band.NONE
    assert outcome.limit_expression == parse_limit(expr).expression()


@pytest.mark.parametrize(
    ("expr", "value", "conforms"),
    [
        ("NLT 98.0", "97.99", False),
        ("NLT 98.0", "98.00", True),
        ("NMT 0.5", "0.54", False),
        ("NMT 0.5", "0.50", True),
        ("95.0-105.0", "105.01", False),
    ],
)
def test_evaluate_under_the_absolute_method_compares_the_raw_value(
    expr: str, value: str, conforms: bool
) -> None:
    outcome = evaluate(D(value), rule(expr), ABSOLUTE)
    assert (outcome.conforms, outcome.reported, outcome.compared) == (conforms, None, D(value))
    assert outcome.rounding == "ASTM E29 absolute method: no rounding"


def test_evaluate_records_the_whole_outcome() -> None:
    assert evaluate("97.96", rule("NLT 98.0"), USP) == Evaluation(
        conforms=True,
        reported=D("98.0"),
        compared=D("98.0"),
        band=Band.NONE,
        rounding="USP <7.20>: round half up to 1 decimal place",
        limit_expression="NLT 98.0",
    )


def test_evaluate_describes_sig_fig_rounding() -> None:
    outcome = evaluate("0.12345", rule("NMT 0.2"), RoundingPolicy(RoundingRule.ASTM_E29, 3))
    assert (
        outcome.rounding == "ASTM E29 rounding method: round half to even to 3 significant figures"
    )


@pytest.mark.parametrize(
    ("expected", "value", "conforms"),
    [
        ("CONFORMS", "Conforms", True),
        ("CONFORMS", "  conforms ", True),
        ("CONFORMS", "Does not conform", False),
        ("CONFORMS: White powder", "white   POWDER", True),
        ("CONFORMS: White powder", "White\tpowder\n", True),
        ("CONFORMS: White powder", "White crystalline powder", False),
        ("CONFORMS: White powder", "", False),
    ],
)
def test_evaluate_text_against_expected_text(expected: str, value: str, conforms: bool) -> None:
    outcome = evaluate(value, rule(expected), USP)
    assert outcome.conforms is conforms
    assert (outcome.reported, outcome.compared, outcome.band) == (None, None, Band.NONE)
    assert outcome.limit_expression == parse_limit(expected).expression()


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("CONFORMS: White powder", D("1.0")),
        ("CONFORMS", "98.0"),
        ("CONFORMS", " -1E3 "),
        ("NLT 98.0", "White powder"),
        ("NLT 98.0", "97,96"),
        ("NLT 98.0", ""),
        ("95.0-105.0", "Conforms"),
    ],
)
def test_evaluate_refuses_the_wrong_kind_of_value(expr: str, value: Decimal | str) -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate(value, rule(expr), USP)
    assert (caught.value.reason, caught.value.field) == ("result.value_kind_mismatch", "value")


@pytest.mark.parametrize("value", [D("NaN"), D("Infinity")])
def test_evaluate_refuses_non_finite_numbers(value: Decimal) -> None:
    with pytest.raises(MalformedNumber) as caught:
        evaluate(value, rule("NLT 98.0"), USP)
    assert (caught.value.reason, caught.value.field) == ("number.malformed", "value")


@pytest.mark.parametrize(
    ("spec", "alert", "action", "value", "policy", "band"),
    [
        # An impurity: spec NMT 0.5, alert NMT 0.3, action NMT 0.4.
        ("NMT 0.5", "NMT 0.3", "NMT 0.4", "0.2", USP, Band.NONE),
        ("NMT 0.5", "NMT 0.3", "NMT 0.4", "0.34", USP, Band.NONE),  # 0.34 -> 0.3
        ("NMT 0.5", "NMT 0.3", "NMT 0.4", "0.35", USP, Band.ALERT),  # 0.35 -> 0.4 > 0.3
        ("NMT 0.5", "NMT 0.3", "NMT 0.4", "0.35", E29, Band.ALERT),  # 0.35 -> 0.4 (even)
        (
            "NMT 0.5",
            "NMT 0.3",
            "NMT 0.4",
            "0.45",
            E29,
            Band.ALERT,
        ),  # 0.45 -> 0.4: at action, over alert
        ("NMT 0.5", "NMT 0.3", "NMT 0.4", "0.45", USP, Band.ACTION),  # 0.45 -> 0.5 > 0.4
        ("NMT 0.5", "NMT 0.3", "NMT 0.4", "0.9", USP, Band.ACTION),  # out of spec too
        ("NMT 0.5", "NMT 0.3", "NMT 0.4", "0.31", ABSOLUTE, Band.ALERT),
        # Each band is read at its own places: 0.34 is over an alert written NMT 0.30.
        ("NMT 0.5", "NMT 0.30", None, "0.34", USP, Band.ALERT),
        # An assay: spec NLT 98.0, alert NLT 98.5, action NLT 98.2.
        ("NLT 98.0", "NLT 98.5", "NLT 98.2", "99.0", USP, Band.NONE),
        ("NLT 98.0", "NLT 98.5", "NLT 98.2", "98.44", USP, Band.ALERT),
        ("NLT 98.0", "NLT 98.5", "NLT 98.2", "97.96", USP, Band.ACTION),
        # Only one band set, and ranges as bands.
        ("95.0-105.0", None, "97.0-103.0", "103.2", USP, Band.ACTION),
        ("95.0-105.0", "97.0-103.0", None, "96.0", USP, Band.ALERT),
        ("95.0-105.0", None, None, "104.9", USP, Band.NONE),
    ],
)
def test_bands(
    spec: str,
    alert: str | None,
    action: str | None,
    value: str,
    policy: RoundingPolicy,
    band: Band,
) -> None:
    assert evaluate(D(value), rule(spec, alert, action), policy).band is band


@pytest.mark.parametrize(
    ("spec", "alert", "action", "field"),
    [
        ("CONFORMS", "NMT 0.3", None, "alert"),
        ("CONFORMS", None, "NMT 0.3", "action"),
        ("NMT 0.5", "CONFORMS", None, "alert"),
        ("NMT 0.5", None, "CONFORMS: White", "action"),
    ],
)
def test_bands_must_be_numeric(
    spec: str, alert: str | None, action: str | None, field: str
) -> None:
    with pytest.raises(InvalidLimit) as caught:
        rule(spec, alert, action)
    assert (caught.value.reason, caught.value.field) == ("limit.band_not_numeric", field)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        (LimitKind.NLT, "nlt"),
        (LimitKind.NMT, "nmt"),
        (LimitKind.RANGE, "range"),
        (LimitKind.EQUALS, "equals"),
        (LimitKind.CONFORMS_TEXT, "conforms"),
        (Band.NONE, "none"),
        (Band.ALERT, "alert"),
        (Band.ACTION, "action"),
    ],
)
def test_enum_values_are_stable(member: LimitKind | Band, value: str) -> None:
    assert member.value == value
