"""Decimal numbers as labs report them: strict parsing, decimal places and rounding rules.

Results are compared with specification limits only after rounding, and the rule that rounds
is part of the record (USP General Notices 7.20 or ASTM E29). Everything here is Decimal: a
float would turn 0.45 into 0.450000000000000011102..., and the tie would be gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Decimal,
    Inexact,
    localcontext,
)
from enum import StrEnum

from labgate.domain.errors import InvalidInput, MalformedNumber

__all__ = [
    "MAX_EXPONENT",
    "RoundingPolicy",
    "RoundingRule",
    "apply",
    "decimal_places",
    "exact_difference",
    "exact_product",
    "parse_decimal",
    "round_to_places",
    "round_to_sig_figs",
    "to_plain",
]

# [0-9], not \d: \d also matches Arabic-Indic and other digits, which Decimal would accept.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

# No measurement needs more; the bound keeps a typo like "1E999999999" from asking Decimal for
# a billion digits when it is rounded.
MAX_EXPONENT = 999


class RoundingRule(StrEnum):
    """How a result is rounded before it is compared with a limit."""

    USP = "usp"  # USP General Notices 7.20: round half up to the limit's decimal places
    ASTM_E29 = "astm-e29"  # ASTM E29 rounding method: round half to even, to the limit's places
    ABSOLUTE = "absolute"  # ASTM E29 absolute method: no rounding, the raw value is compared


# Python's ROUND_HALF_UP breaks ties away from zero (-0.45 -> -0.5), which is what USP 7.20
# describes: it speaks of the digit to be dropped, i.e. of the magnitude.
_TIE_BREAKING = {RoundingRule.USP: ROUND_HALF_UP, RoundingRule.ASTM_E29: ROUND_HALF_EVEN}

_PREFIX = {
    RoundingRule.USP: "USP <7.20>: round half up",
    RoundingRule.ASTM_E29: "ASTM E29 rounding method: round half to even",
}


@dataclass(frozen=True)
class RoundingPolicy:
    """A rounding rule, optionally to a number of significant figures instead of decimal places."""

    rule: RoundingRule
    sig_figs: int | None = None

    def __post_init__(self) -> None:
        """Refuse combinations that have no meaning."""
        if self.sig_figs is None:
            return
        if self.rule is RoundingRule.ABSOLUTE:
            raise InvalidInput(
                "Significant figures cannot be used with the ASTM E29 absolute method, "
                "which does not round; leave significant figures unset or choose another rule.",
                reason="rounding.sig_figs_with_absolute",
                field="sig_figs",
            )
        if self.sig_figs < 1:
            raise InvalidInput(
                f"Significant figures must be 1 or more, not {self.sig_figs}.",
                reason="rounding.sig_figs_invalid",
                field="sig_figs",
            )

    def describe(self, places: int | None) -> str:
        """Say in one sentence how a value is rounded, for the record."""
        if self.rule is RoundingRule.ABSOLUTE:
            return "ASTM E29 absolute method: no rounding"
        if self.sig_figs is not None:
            return f"{_PREFIX[self.rule]} to {_count(self.sig_figs, 'significant figure')}"
        if places is None:
            return f"{_PREFIX[self.rule]} to the decimal places of the limit"
        return f"{_PREFIX[self.rule]} to {_count(places, 'decimal place')}"


def _count(n: int, noun: str) -> str:
    """Render "1 decimal place" or "3 decimal places"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def parse_decimal(text: str, field: str = "value") -> Decimal:
    """Read a plain decimal number ("98.10", "-5", "1.2E-3"), keeping its trailing zeros."""
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped):
        raise MalformedNumber(
            f"The {field} {text!r} is not a decimal number; write digits with an optional sign, "
            "one decimal point and an optional exponent, such as 98.0 or 1.2E-3.",
            field=field,
        )
    value = Decimal(stripped)
    if abs(value.adjusted()) > MAX_EXPONENT:
        raise MalformedNumber(
            f"The {field} {text!r} is outside the supported range of 1E-{MAX_EXPONENT} "
            f"to 1E+{MAX_EXPONENT}.",
            reason="number.out_of_range",
            field=field,
        )
    return value


def _require_finite(value: Decimal) -> None:
    """Refuse NaN and infinities, which have no places and cannot be rounded."""
    if not value.is_finite():
        raise MalformedNumber(f"{value} is not a finite decimal number.", field="value")


def decimal_places(value: Decimal) -> int:
    """Count the digits after the decimal point as written: 98.0 -> 1, 98 -> 0, 1E+2 -> 0."""
    _require_finite(value)
    return max(0, -_exponent(value))


def round_to_places(value: Decimal, places: int, rule: RoundingRule) -> Decimal:
    """Round to a number of decimal places with the rule's tie-breaking."""
    _require_finite(value)
    if places < 0:
        raise InvalidInput(
            f"Decimal places must be 0 or more, not {places}.",
            reason="rounding.places_invalid",
            field="places",
        )
    digits = max(value.adjusted(), 0) + places + 2
    with localcontext(prec=max(digits, 28), Emax=MAX_EMAX, Emin=MIN_EMIN):
        rounded = value.quantize(Decimal(1).scaleb(-places), rounding=_tie_breaking(rule))
    return _positive_zero(rounded)


def round_to_sig_figs(value: Decimal, sig_figs: int, rule: RoundingRule) -> Decimal:
    """Round to significant figures with the rule's tie-breaking.

    Where the last kept figure is left of the decimal point (12350 to 3 figures) the result is
    returned with exponent 0, so it prints as 12400, not 1.24E+4: reports and JSON want plain
    numbers, and the rounding sentence on the record says how many figures are significant.
    """
    _require_finite(value)
    if sig_figs < 1:
        raise InvalidInput(
            f"Significant figures must be 1 or more, not {sig_figs}.",
            reason="rounding.sig_figs_invalid",
            field="sig_figs",
        )
    if value.is_zero():
        return Decimal(0).scaleb(-(sig_figs - 1))  # zero has no figures to count; show the places
    exponent = value.adjusted() - sig_figs + 1
    digits = abs(value.adjusted()) + sig_figs + 3
    with localcontext(prec=max(digits, 28), Emax=MAX_EMAX, Emin=MIN_EMIN):
        rounded = value.quantize(Decimal(1).scaleb(exponent), rounding=_tie_breaking(rule))
        if rounded.adjusted() > value.adjusted():
            # 9.995 to 3 figures carries into a new digit (10.00); one figure fewer after the point
            # keeps the count right (10.0). The dropped digit is a zero, so nothing is re-rounded.
            exponent += 1
            rounded = rounded.quantize(Decimal(1).scaleb(exponent))
        if exponent > 0:
            rounded = rounded.quantize(Decimal(1))
    return _positive_zero(rounded)


def apply(policy: RoundingPolicy, value: Decimal, places: int) -> Decimal | None:
    """Round a value as the policy says; None under the absolute method, which does not round."""
    if policy.rule is RoundingRule.ABSOLUTE:
        return None
    if policy.sig_figs is not None:
        return round_to_sig_figs(value, policy.sig_figs, policy.rule)
    return round_to_places(value, places, policy.rule)


def to_plain(value: Decimal) -> str:
    """Render a Decimal without an exponent (0.0000001, not 1E-7), keeping its places."""
    return format(value, "f")


def exact_product(value: Decimal, factor: Decimal) -> Decimal:
    """value * factor with every digit kept, whatever the number of digits either carries.

    Python's default context keeps 28 significant digits and rounds the rest away: a converted
    96.9499999999999999999999999999 % became 96.95 and then 97.0. A product has at most as
    many digits as its operands together, so a context that wide never rounds.
    """
    _require_finite(value)
    _require_finite(factor)
    digits = _digits(value) + _digits(factor)
    with localcontext(prec=digits, Emax=MAX_EMAX, Emin=MIN_EMIN) as context:
        context.traps[Inexact] = True  # cannot happen at this width; if it did, refuse loudly
        return value * factor


def exact_difference(minuend: Decimal, subtrahend: Decimal) -> Decimal:
    """minuend - subtrahend with every digit kept (default context: 28 digits, the rest rounded)."""
    _require_finite(minuend)
    _require_finite(subtrahend)
    lowest = min(_exponent(minuend), _exponent(subtrahend))
    highest = max(minuend.adjusted(), subtrahend.adjusted())
    with localcontext(prec=max(highest - lowest + 2, 1), Emax=MAX_EMAX, Emin=MIN_EMIN) as context:
        context.traps[Inexact] = True
        return minuend - subtrahend


def _digits(value: Decimal) -> int:
    """The number of digits in the coefficient: 96.950 -> 5."""
    return len(value.as_tuple().digits)


def _exponent(value: Decimal) -> int:
    """The exponent of a finite Decimal: 96.950 -> -3."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, so never the 'n' / 'N' / 'F' markers
    return exponent


def _tie_breaking(rule: RoundingRule) -> str:
    """Return the decimal rounding mode for a rule that rounds."""
    if rule is RoundingRule.ABSOLUTE:
        raise InvalidInput(
            "The ASTM E29 absolute method does not round; compare the raw value instead.",
            reason="rounding.absolute_does_not_round",
            field="rule",
        )
    return _TIE_BREAKING[rule]


def _positive_zero(value: Decimal) -> Decimal:
    """Drop the sign of a zero: -0.04 rounds to 0.0, and a reported "-0.0" reads as negative."""
    return value.copy_abs() if value.is_zero() else value
