"""Specification limits, alert and action bands, and the evaluation of one result against them.

A result is rounded to the places the limit is written with (or to significant figures) and the
rounded value is compared, as USP General Notices 7.20 and ASTM E29 require; the evaluation keeps
the rounded value, the value compared and the rounding sentence so the record can be re-checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from labgate.domain.errors import InvalidInput, InvalidLimit, MalformedNumber
from labgate.domain.numbers import RoundingPolicy, apply, decimal_places, parse_decimal, to_plain

__all__ = [
    "Band",
    "Evaluation",
    "Limit",
    "LimitKind",
    "LimitRule",
    "evaluate",
    "parse_limit",
]

_NUM = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_ONE_SIDED = re.compile(rf"(NLT|NMT|>=|<=|=|EQ)\s*({_NUM})", re.IGNORECASE)
# "to" comes first so "-5.0 to -1.0" is never read as a hyphenated range.
_RANGE_TO = re.compile(rf"({_NUM})\s+to\s+({_NUM})", re.IGNORECASE)
_RANGE_DASH = re.compile(rf"({_NUM})\s*-\s*({_NUM})")
_CONFORMS = re.compile(r"CONFORMS\s*(?::(.*))?", re.IGNORECASE | re.DOTALL)

_ACCEPTED_FORMS = (
    '"NLT x", "NMT x", ">= x", "<= x", "x-y", "x to y", "= x", "EQ x", "CONFORMS" '
    'or "CONFORMS: expected text"'
)
_BARE_CONFORMS = "Conforms"


class LimitKind(StrEnum):
    """The shape of a limit."""

    NLT = "nlt"
    NMT = "nmt"
    RANGE = "range"
    EQUALS = "equals"
    CONFORMS_TEXT = "conforms"


_OPERATORS = {
    "nlt": LimitKind.NLT,
    ">=": LimitKind.NLT,
    "nmt": LimitKind.NMT,
    "<=": LimitKind.NMT,
    "=": LimitKind.EQUALS,
    "eq": LimitKind.EQUALS,
}


@dataclass(frozen=True)
class Limit:
    """One acceptance limit; an EQUALS limit holds its value as both low and high."""

    kind: LimitKind
    low: Decimal | None = None
    high: Decimal | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        """Refuse a limit whose fields do not fit its kind."""
        if not _fits_kind(self):
            raise InvalidLimit(
                f"A {self.kind.value} limit cannot have low={self.low}, high={self.high}, "
                f"text={self.text!r}.",
                field="limit",
            )
        if self.low is not None and self.high is not None and self.low > self.high:
            raise InvalidLimit(
                f"The range {to_plain(self.low)} to {to_plain(self.high)} has its low end above "
                "its high end; write the lower number first.",
                reason="limit.range_inverted",
                field="limit",
            )

    @property
    def is_numeric(self) -> bool:
        """Whether results against this limit are numbers."""
        return self.kind is not LimitKind.CONFORMS_TEXT

    @property
    def places(self) -> int | None:
        """The decimal places a result is rounded to; None for a text limit."""
        if self.low is not None and self.high is not None:
            return max(decimal_places(self.low), decimal_places(self.high))
        bound = self.low if self.low is not None else self.high
        return None if bound is None else decimal_places(bound)

    def expression(self) -> str:
        """Write the limit in its canonical form, e.g. "NLT 98.0" or "95.0-105.0"."""
        low = "" if self.low is None else to_plain(self.low)
        high = "" if self.high is None else to_plain(self.high)
        if self.kind is LimitKind.NLT:
            return f"NLT {low}"
        if self.kind is LimitKind.NMT:
            return f"NMT {high}"
        if self.kind is LimitKind.EQUALS:
            return f"= {low}"
        if self.kind is LimitKind.RANGE:
            # A minus sign next to the range dash ("-5.0--1.0") is hard to read; spell it out.
            negative = low.startswith("-") or high.startswith("-")
            return f"{low} to {high}" if negative else f"{low}-{high}"
        return _BARE_CONFORMS if self.text == _BARE_CONFORMS else f"Conforms: {self.text}"

    def contains(self, value: Decimal) -> bool:
        """Whether a number lies within the limit, bounds included."""
        if not self.is_numeric:
            raise _kind_mismatch(f"The limit {self.expression()} expects text, not a number.")
        above_low = self.low is None or value >= self.low
        below_high = self.high is None or value <= self.high
        return above_low and below_high

    def accepts_text(self, text: str) -> bool:
        """Whether a text result matches the expected text, ignoring case and spacing."""
        if self.text is None:
            raise _kind_mismatch(f"The limit {self.expression()} expects a number, not text.")
        return _normalise(text) == _normalise(self.text)


def _fits_kind(limit: Limit) -> bool:
    """Check that exactly the fields the kind needs are set."""
    has_low, has_high, has_text = (x is not None for x in (limit.low, limit.high, limit.text))
    if limit.kind is LimitKind.NLT:
        return has_low and not has_high and not has_text
    if limit.kind is LimitKind.NMT:
        return has_high and not has_low and not has_text
    if limit.kind is LimitKind.RANGE:
        return has_low and has_high and not has_text
    if limit.kind is LimitKind.EQUALS:
        return has_low and not has_text and limit.low == limit.high
    return bool(limit.text and limit.text.strip()) and not has_low and not has_high


def _normalise(text: str) -> str:
    """Fold case and collapse runs of whitespace, so "White  powder" matches "white powder"."""
    return " ".join(text.split()).casefold()


def _kind_mismatch(message: str) -> InvalidInput:
    """Build the error for a number given to a text limit, or text given to a numeric one."""
    return InvalidInput(message, reason="result.value_kind_mismatch", field="value")


def parse_limit(expr: str, field: str = "limit") -> Limit:
    """Read a limit expression such as "NLT 98.0", "95.0 - 105.0" or "CONFORMS: White powder"."""
    stripped = expr.strip()
    try:
        limit = _parse_stripped(stripped, field)
    except InvalidLimit as error:
        raise InvalidLimit(error.message, reason=error.reason, field=field) from error
    if limit is None:
        raise InvalidLimit(
            f"The {field} {expr!r} is not a limit expression; write one of {_ACCEPTED_FORMS}.",
            field=field,
        )
    return limit


def _parse_stripped(text: str, field: str) -> Limit | None:
    """Try each accepted form in turn; None when none fits."""
    if match := _ONE_SIDED.fullmatch(text):
        kind = _OPERATORS[match[1].lower()]
        value = parse_decimal(match[2], field)
        if kind is LimitKind.NLT:
            return Limit(kind, low=value)
        if kind is LimitKind.NMT:
            return Limit(kind, high=value)
        return Limit(kind, low=value, high=value)
    if match := _RANGE_TO.fullmatch(text) or _RANGE_DASH.fullmatch(text):
        low, high = parse_decimal(match[1], field), parse_decimal(match[2], field)
        return Limit(LimitKind.RANGE, low=low, high=high)
    if match := _CONFORMS.fullmatch(text):
        expected = _BARE_CONFORMS if match[1] is None else match[1].strip()
        if not expected:
            return None  # "CONFORMS:" with nothing after it: the expected text was lost
        return Limit(LimitKind.CONFORMS_TEXT, text=expected)
    return None


class Band(StrEnum):
    """Where a result sits against its alert and action limits."""

    NONE = "none"
    ALERT = "alert"
    ACTION = "action"


@dataclass(frozen=True)
class LimitRule:
    """One test's line in a limit set: its specification limit and optional alert/action limits."""

    test_code: str
    limit: Limit
    alert: Limit | None = None
    action: Limit | None = None

    def __post_init__(self) -> None:
        """Refuse bands on text limits, and bands that are not numeric themselves."""
        for name, band in (("alert", self.alert), ("action", self.action)):
            if band is not None and not (self.limit.is_numeric and band.is_numeric):
                raise InvalidLimit(
                    f"The {name} limit of test {self.test_code} must be numeric and belong to a "
                    "numeric specification limit; bands do not apply to text results.",
                    reason="limit.band_not_numeric",
                    field=name,
                )


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one result against one limit rule, with what was compared and how."""

    conforms: bool
    reported: Decimal | None
    compared: Decimal | None
    band: Band
    rounding: str
    limit_expression: str


_TEXT_ROUNDING = "No rounding: a text result is compared with the expected text"


def evaluate(value: Decimal | str, rule: LimitRule, policy: RoundingPolicy) -> Evaluation:
    """Round a result as the policy says and judge it against the rule's limit and bands."""
    if rule.limit.is_numeric:
        return _evaluate_number(_as_number(value, rule.limit), rule, policy)
    if isinstance(value, Decimal) or _is_number(value):
        raise _kind_mismatch(
            f"The limit {rule.limit.expression()} expects a text result, not the number {value}."
        )
    return Evaluation(
        conforms=rule.limit.accepts_text(value),
        reported=None,
        compared=None,
        band=Band.NONE,
        rounding=_TEXT_ROUNDING,
        limit_expression=rule.limit.expression(),
    )


def _as_number(value: Decimal | str, limit: Limit) -> Decimal:
    """Take a Decimal as is, or parse numeric text; other text is the wrong kind of value."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise MalformedNumber(f"The value {value} is not a finite number.", field="value")
        return value
    if not _is_number(value):
        raise _kind_mismatch(
            f"The limit {limit.expression()} expects a number, and {value!r} is not one "
            "(digits with an optional sign, decimal point and exponent)."
        )
    return parse_decimal(value)


def _is_number(text: str) -> bool:
    """Whether text reads as a decimal number."""
    try:
        parse_decimal(text)
    except MalformedNumber:
        return False
    return True


def _evaluate_number(value: Decimal, rule: LimitRule, policy: RoundingPolicy) -> Evaluation:
    """Judge a number against a numeric limit and its bands."""
    places = rule.limit.places
    reported = apply(policy, value, _known(places))
    compared = value if reported is None else reported
    return Evaluation(
        conforms=rule.limit.contains(compared),
        reported=reported,
        compared=compared,
        band=_band(value, rule, policy),
        rounding=policy.describe(places),
        limit_expression=rule.limit.expression(),
    )


def _band(value: Decimal, rule: LimitRule, policy: RoundingPolicy) -> Band:
    """Place a result in its band; action outranks alert."""
    if rule.action is not None and not _within(value, rule.action, policy):
        return Band.ACTION
    if rule.alert is not None and not _within(value, rule.alert, policy):
        return Band.ALERT
    return Band.NONE


def _within(value: Decimal, limit: Limit, policy: RoundingPolicy) -> bool:
    """Judge a value against one limit, rounded to that limit's own places.

    Alert limits are often written tighter than the specification (NMT 0.30 under NMT 0.5);
    rounding to the specification's places first would hide 0.34 behind 0.3.
    """
    rounded = apply(policy, value, _known(limit.places))
    return limit.contains(value if rounded is None else rounded)


def _known(places: int | None) -> int:
    """Return the places of a numeric limit, which always has them."""
    assert places is not None, "numeric limits always have decimal places"
    return places
