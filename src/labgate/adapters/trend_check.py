"""The OOT port's adapter: the domain's Decimals through `check_trend` (statsmodels) and back."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from labgate.adapters.oot_regression import check_trend
from labgate.adapters.stability_observations import Observation
from labgate.domain.errors import InvalidInput
from labgate.domain.trending import TrendObservation, TrendVerdict

_PLACES = Decimal("0.0001")  # the chart's numbers as stored and shown: enough to judge by
_FLOAT_DIGITS = 17  # a float carries at most 17 significant digits
_FLOAT_RANGE = 1e150  # least squares squares the values; ~1.3E+154 squared overflows a float
_NO_SPREAD = 1e-9  # relative residual spread below which a fit is exact up to rounding


def regression_trend_check(
    history: Sequence[TrendObservation], new: TrendObservation, alpha: Decimal
) -> TrendVerdict | None:
    """The new point against the history's prediction interval; None when the history cannot
    carry a line (too few points, one time only, no spread): no verdict is not an alert."""
    if not all(abs(float(o.value)) < _FLOAT_RANGE for o in (*history, new)):
        return None  # a float fit cannot carry values this large (nor judge a point by them)
    try:
        check = check_trend([_float(o) for o in history], [_float(new)], float(alpha))
    except InvalidInput:
        return None
    scale = max(1.0, max(abs(float(o.value)) for o in history))
    if check.fit.s <= _NO_SPREAD * scale:  # one exact line: no spread to judge a new point by
        return None
    point = check.points[0]
    if not all(map(math.isfinite, (point.predicted, point.lower, point.upper))):
        return None  # values beyond a float's range: the line says nothing to judge by
    return TrendVerdict(
        _decimal(point.predicted), _decimal(point.lower), _decimal(point.upper), point.oot
    )


def _float(o: TrendObservation) -> Observation:
    return Observation(o.batch, float(o.time), float(o.value))


def _decimal(value: float) -> Decimal:
    exact = Decimal(repr(value))
    if exact.adjusted() >= _FLOAT_DIGITS:
        # No digit below the units place to round, and four places under the default 28-digit
        # context raised InvalidOperation from 1E+24 up (an approval answered 500).
        return exact
    return exact.quantize(_PLACES)
