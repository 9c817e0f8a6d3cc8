"""Parsing, decimal places and rounding: USP 7.20, ASTM E29 and significant figures."""

from __future__ import annotations

from decimal import Decimal

import pytest

from labgate.domain.errors import InvalidInput, MalformedNumber
from labgate.domain.numbers import (
    RoundingPolicy,
    RoundingRule,
    apply,
    decimal_places,
    parse_decimal,
    round_to_places,
    round_to_sig_figs,
    to_plain,
)

USP = RoundingRule.USP
E29 = RoundingRule.ASTM_E29
ABSOLUTE = RoundingRule.ABSOLUTE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("98.10", "98.10"),
        ("  98.0\t", "98.0"),
        ("-5", "-5"),
        ("+5.5", "5.5"),
        ("0", "0"),
        ("5.", "5"),
        (".5", "0.5"),
        ("1.2E-3", "0.0012"),
        ("1.2e3", "1.2E+3"),
        ("1E+2", "1E+2"),
    ],
)
def test_parse_decimal_accepts_plain_numbers(text: str, expected: str) -> None:
    assert str(parse_decimal(text)) == expected


def test_parse_decimal_keeps_trailing_zeros() -> None:
    assert parse_decimal("98.10").as_tuple().exponent == -2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1,5",
        "1,000.5",
        "1 000",
        "1_000",
        "12abc",
        "abc12",
        "1.2.3",
        "--1",
        "+-1",
        "1E",
        "E5",
        ".",
        "-",
        "0x1A",
        "٣",  # an Arabic-Indic digit three, which Decimal itself would accept
        "98.0 mg",
    ],
)
def test_parse_decimal_rejects_what_is_not_a_plain_number(text: str) -> None:
    with pytest.raises(MalformedNumber) as caught:
        parse_decimal(text, field="assay")
    assert caught.value.reason == "number.malformed"
    assert caught.value.field == "assay"
    assert "assay" in caught.value.message
    assert repr(text) in caught.value.message


@pytest.mark.parametrize("text", ["1E+1000", "1E-1000", "1E999999999"])
def test_parse_decimal_rejects_absurd_exponents(text: str) -> None:
    with pytest.raises(MalformedNumber) as caught:
        parse_decimal(text)
    assert (caught.value.reason, caught.value.field) == ("number.out_of_range", "value")


@pytest.mark.parametrize(
    ("text", "places"),
    [("98", 0), ("98.0", 1), ("98.10", 2), ("0.0012", 4), ("1E+2", 0), ("1.2E-3", 4), ("-0.5", 1)],
)
def test_decimal_places_counts_digits_as_written(text: str, places: int) -> None:
    assert decimal_places(Decimal(text)) == places


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_non_finite_decimals_are_refused(text: str) -> None:
    with pytest.raises(MalformedNumber):
        decimal_places(Decimal(text))
    with pytest.raises(MalformedNumber):
        round_to_places(Decimal(text), 1, USP)
    with pytest.raises(MalformedNumber):
        round_to_sig_figs(Decimal(text), 3, USP)


@pytest.mark.parametrize(
    ("value", "places", "rule", "expected"),
    [
        # USP 7.20: half up.
        ("97.96", 1, USP, "98.0"),
        ("97.92", 1, USP, "97.9"),
        ("97.95", 1, USP, "98.0"),
        ("97.85", 1, USP, "97.9"),
        ("0.54", 1, USP, "0.5"),
        ("0.55", 1, USP, "0.6"),
        ("0.45", 1, USP, "0.5"),
        ("2.5", 0, USP, "3"),
        ("-0.45", 1, USP, "-0.5"),  # ties go away from zero
        # ASTM E29 rounding method: half to even.
        ("97.95", 1, E29, "98.0"),
        ("97.85", 1, E29, "97.8"),
        ("0.55", 1, E29, "0.6"),
        ("0.45", 1, E29, "0.4"),
        ("2.5", 0, E29, "2"),
        ("3.5", 0, E29, "4"),
        ("0.451", 1, E29, "0.5"),  # not a tie: more than half
        # Places are padded as well as cut, and negative zero loses its sign.
        ("98", 2, USP, "98.00"),
        ("1E+2", 1, USP, "100.0"),
        ("-0.04", 1, USP, "0.0"),
        ("-0.04", 1, E29, "0.0"),
    ],
)
def test_round_to_places(value: str, places: int, rule: RoundingRule, expected: str) -> None:
    assert str(round_to_places(Decimal(value), places, rule)) == expected


def test_round_to_places_refuses_negative_places() -> None:
    with pytest.raises(InvalidInput) as caught:
        round_to_places(Decimal("1.5"), -1, USP)
    assert (caught.value.reason, caught.value.field) == ("rounding.places_invalid", "places")


def test_round_to_places_refuses_the_absolute_method() -> None:
    with pytest.raises(InvalidInput) as caught:
        round_to_places(Decimal("1.5"), 0, ABSOLUTE)
    assert caught.value.reason == "rounding.absolute_does_not_round"


@pytest.mark.requirement("URS-TX-004", category="boundary")
def test_round_to_places_keeps_precision_beyond_the_default_context() -> None:
    value = Decimal("1" * 40 + ".55")
    assert str(round_to_places(value, 1, USP)) == "1" * 40 + ".6"


@pytest.mark.parametrize(
    ("value", "sig_figs", "rule", "expected"),
    [
        ("0.12345", 3, USP, "0.123"),
        ("0.012345", 3, USP, "0.0123"),
        ("2.345", 3, USP, "2.35"),
        ("2.345", 3, E29, "2.34"),
        ("2.355", 3, E29, "2.36"),
        ("12350", 3, E29, "12400"),  # plain, not 1.24E+4
        ("12450", 3, E29, "12400"),
        ("12450", 3, USP, "12500"),
        ("9.995", 3, USP, "10.0"),  # the carry adds a digit; still 3 figures
        ("0.09996", 3, USP, "0.100"),
        ("999.5", 3, USP, "1000"),
        ("1.5", 5, USP, "1.5000"),
        ("-2.345", 3, USP, "-2.35"),
        ("-0.000001", 1, USP, "-0.000001"),
        ("0", 3, USP, "0.00"),
        ("0.000", 1, E29, "0"),
    ],
)
def test_round_to_sig_figs(value: str, sig_figs: int, rule: RoundingRule, expected: str) -> None:
    assert to_plain(round_to_sig_figs(Decimal(value), sig_figs, rule)) == expected


def test_round_to_sig_figs_is_plain_when_the_last_figure_is_left_of_the_point() -> None:
    rounded = round_to_sig_figs(Decimal("12350"), 3, E29)
    assert str(rounded) == "12400"
    assert rounded == Decimal("1.24E+4")


@pytest.mark.parametrize("sig_figs", [0, -1])
def test_round_to_sig_figs_refuses_fewer_than_one_figure(sig_figs: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        round_to_sig_figs(Decimal("1.5"), sig_figs, USP)
    assert (caught.value.reason, caught.value.field) == ("rounding.sig_figs_invalid", "sig_figs")


@pytest.mark.parametrize(
    ("policy", "value", "places", "expected"),
    [
        (RoundingPolicy(USP), "97.95", 1, "98.0"),
        (RoundingPolicy(E29), "97.85", 1, "97.8"),
        (RoundingPolicy(ABSOLUTE), "97.99", 1, None),
        (RoundingPolicy(USP, sig_figs=3), "2.345", 1, "2.35"),  # figures win over places
        (RoundingPolicy(E29, sig_figs=3), "2.345", 1, "2.34"),
    ],
)
def test_apply(policy: RoundingPolicy, value: str, places: int, expected: str | None) -> None:
    rounded = apply(policy, Decimal(value), places)
    assert (None if rounded is None else str(rounded)) == expected


@pytest.mark.parametrize(
    ("rule", "sig_figs", "reason"),
    [
        (ABSOLUTE, 3, "rounding.sig_figs_with_absolute"),
        (ABSOLUTE, 0, "rounding.sig_figs_with_absolute"),
        (USP, 0, "rounding.sig_figs_invalid"),
        (E29, -2, "rounding.sig_figs_invalid"),
    ],
)
def test_policy_refuses_meaningless_sig_figs(
    rule: RoundingRule, sig_figs: int, reason: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        RoundingPolicy(rule, sig_figs)
    assert (caught.value.reason, caught.value.field) == (reason, "sig_figs")


@pytest.mark.parametrize(
    ("policy", "places", "sentence"),
    [
        (RoundingPolicy(USP), 1, "USP <7.20>: round half up to 1 decimal place"),
        (RoundingPolicy(USP), 2, "USP <7.20>: round half up to 2 decimal places"),
        (RoundingPolicy(USP), 0, "USP <7.20>: round half up to 0 decimal places"),
        (RoundingPolicy(USP), None, "USP <7.20>: round half up to the decimal places of the limit"),
        (RoundingPolicy(E29), 1, "ASTM E29 rounding method: round half to even to 1 decimal place"),
        (
            RoundingPolicy(E29, sig_figs=3),
            1,
            "ASTM E29 rounding method: round half to even to 3 significant figures",
        ),
        (RoundingPolicy(USP, sig_figs=1), 2, "USP <7.20>: round half up to 1 significant figure"),
        (RoundingPolicy(ABSOLUTE), 1, "ASTM E29 absolute method: no rounding"),
        (RoundingPolicy(ABSOLUTE), None, "ASTM E29 absolute method: no rounding"),
    ],
)
def test_policy_describes_itself(policy: RoundingPolicy, places: int | None, sentence: str) -> None:
    assert policy.describe(places) == sentence


@pytest.mark.parametrize(
    ("text", "value"), [("usp", USP), ("astm-e29", E29), ("absolute", ABSOLUTE)]
)
def test_rule_values_are_stable(text: str, value: RoundingRule) -> None:
    assert RoundingRule(text) is value


@pytest.mark.parametrize(
    ("value", "plain"), [("1E-7", "0.0000001"), ("1.20E+3", "1200"), ("98.10", "98.10")]
)
def test_to_plain_never_uses_an_exponent(value: str, plain: str) -> None:
    assert to_plain(Decimal(value)) == plain
