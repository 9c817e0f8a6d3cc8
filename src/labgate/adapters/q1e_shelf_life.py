"""The ICH Q1E shelf-life estimate of a stability study: regression per batch, poolability by
analysis of covariance, the confidence bound's crossing of the acceptance criterion.

Pure computation on floats, no I/O; an adapter rather than domain code because it leans on
numpy, pandas, statsmodels and scipy (the domain imports only the standard library): a
regulator asks which validated library made the numbers, and hand-rolled regression code is the
wrong answer. The out-of-trend check on the same results is `oot_regression.py`.

Shelf life (ICH Q1E, 2003, §2.4 and Appendix B.2): a straight line per batch; poolability of
slopes, then of intercepts, tested by analysis of covariance at 0.25; the shelf life is the
earliest time at which the one-sided 95 % confidence bound of the mean line meets the
acceptance criterion (two-sided 95 %, i.e. 97.5 % on each side, for a two-sided criterion).
When batches cannot be pooled the shortest batch wins.

Times are in the data's unit; the Q1E extrapolation limits assume months.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

# pandas, statsmodels and scipy are imported where they are used: together they take seconds
# to import, and most processes never fit a line.
if TYPE_CHECKING:
    import pandas as pd

from labgate.adapters.stability_observations import Observation, observation_frame
from labgate.domain.errors import InvalidInput

__all__ = [
    "BatchLine",
    "Criterion",
    "Model",
    "ShelfLife",
    "estimate_shelf_life",
    "extrapolation_limit",
]

POOLING_ALPHA = 0.25  # ICH Q1E Appendix B.2.2, analysis of covariance: tests at 0.25
CONFIDENCE = 0.95
HORIZON_FACTOR = 5  # the crossing is sought up to 5 x the data's span; beyond is not an estimate
_GRID_STEPS = 2000  # the grid brackets the first crossing; brentq then solves it exactly
_BAND_POINTS = 121  # points of each batch's confidence band kept for the plot
_MIN_RESULTS = 3  # a straight line with one residual degree of freedom left for its bound

Floats = NDArray[np.float64]
Bounds = Callable[[Floats], tuple[Floats, Floats]]


class Model(StrEnum):
    """Which lines the analysis of covariance allows: pooled, parallel, or one per batch."""

    CICS = "cics"  # common intercept, common slope (also the model of a single batch)
    DICS = "dics"  # different intercepts, common slope
    DIDS = "dids"  # different intercepts, different slopes: each batch fitted on its own


@dataclass(frozen=True)
class Criterion:
    """The acceptance criterion: a lower limit, an upper limit, or both."""

    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        if self.lower is None and self.upper is None:
            raise InvalidInput(
                "Give a lower limit, an upper limit or both: the shelf life is where the "
                "confidence bound meets an acceptance limit.",
                reason="stability.limit_missing",
                field="limit",
            )
        for name, limit in (("lower", self.lower), ("upper", self.upper)):
            if limit is not None and not math.isfinite(limit):
                raise InvalidInput(
                    f"The {name} limit must be a finite number, not {limit}.",
                    reason="stability.limit_invalid",
                    field=name,
                )
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise InvalidInput(
                f"The lower limit {self.lower:g} must be below the upper limit {self.upper:g}.",
                reason="stability.limits_inverted",
                field="lower",
            )

    @property
    def sides(self) -> int:
        """1 for a one-sided criterion, 2 when both limits are given."""
        return 2 if self.lower is not None and self.upper is not None else 1

    @property
    def bound_level(self) -> float:
        """Confidence of each bound: 95 % one-sided, 97.5 % per side for a two-sided 95 %."""
        return 1 - (1 - CONFIDENCE) / self.sides


@dataclass(frozen=True)
class BatchLine:
    """A batch's fitted line under the chosen model and the time its bound meets the limit."""

    batch: str
    intercept: float
    slope: float
    shelf_life: float | None  # None: no crossing before the search horizon
    # The confidence band of the mean line, (time, lower, upper), from 0 to a little past the
    # estimate: what the plot draws, so that it shows the very bounds the estimate came from.
    band: tuple[tuple[float, float, float], ...] = ()


@dataclass(frozen=True)
class ShelfLife:
    """The Q1E estimate, the model behind it, and the period Q1E lets one propose."""

    model: Model
    p_slopes: float | None  # None: one batch, or exact fits (no evidence of a difference)
    p_intercepts: float | None  # None also when the slopes did not pool (test not made)
    criterion: Criterion
    batches: tuple[BatchLine, ...]
    shelf_life: float | None
    determined_by: str | None  # the limiting batch; None when all batches share one line
    proposed_shelf_life: float
    data_span: float  # X: the longest time covered by the data
    extrapolation_limit: float
    horizon: float
    reason: str | None  # why shelf_life is None or 0


def extrapolation_limit(data_span: float) -> float:
    """The longest shelf life Q1E lets one propose from X months of long-term data.

    ICH Q1E §2.4.1.2 and Appendix A (decision tree): room-temperature storage, no significant
    change at the accelerated condition, long-term data amenable to statistical analysis and
    analysed: up to twice, but not more than 12 months beyond, the period covered by long-term
    data, i.e. Y = min(2X, X + 12). The other branches of the tree (refrigerated or frozen storage,
    significant change at accelerated conditions) allow less and are the reviewer's call.
    """
    return min(2 * data_span, data_span + 12)


def estimate_shelf_life(observations: Sequence[Observation], criterion: Criterion) -> ShelfLife:
    """Estimate the shelf life per ICH Q1E and the proposed period beside it."""
    frame = observation_frame(observations, "A shelf-life estimate")
    _check_batches(frame)
    span = float(frame["time"].max())
    horizon = HORIZON_FACTOR * span
    model, p_slopes, p_intercepts, bounds_of = _select_model(frame, criterion.bound_level)
    lines = tuple(
        _batch_line(batch, line, bounds, criterion, horizon)
        for batch, (line, bounds) in bounds_of.items()
    )
    shelf_life, determined_by = _shortest(lines, pooled=model is Model.CICS)
    limit = extrapolation_limit(span)
    return ShelfLife(
        model=model,
        p_slopes=p_slopes,
        p_intercepts=p_intercepts,
        criterion=criterion,
        batches=lines,
        shelf_life=shelf_life,
        determined_by=determined_by,
        proposed_shelf_life=limit if shelf_life is None else min(shelf_life, limit),
        data_span=span,
        extrapolation_limit=limit,
        horizon=horizon,
        reason=_reason(shelf_life, criterion, horizon, span),
    )


def _check_batches(frame: pd.DataFrame) -> None:
    """Every batch must be able to carry its own line, should the slopes not pool."""
    for batch, rows in frame.groupby("batch", sort=False):
        if len(rows) < _MIN_RESULTS:
            raise InvalidInput(
                f"Batch {batch!r} has {len(rows)} results; each batch needs at least "
                f"{_MIN_RESULTS} to be fitted on its own.",
                reason="stability.batch_too_few_points",
                field="batch",
            )
        if rows["time"].nunique() < 2:
            raise InvalidInput(
                f"Batch {batch!r} has all its results at time {rows['time'].iloc[0]:g}; "
                "each batch needs at least two different times to fit a slope.",
                reason="stability.batch_single_time",
                field="time",
            )


def _select_model(
    frame: pd.DataFrame, bound_level: float
) -> tuple[Model, float | None, float | None, dict[str, tuple[tuple[float, float], Bounds]]]:
    """Run the ICH Q1E poolability tests and return each batch's line and confidence bounds."""
    import statsmodels.formula.api as smf

    alpha = 2 * (1 - bound_level)  # a two-sided interval at alpha has one-sided bounds at level
    batches = list(dict.fromkeys(frame["batch"]))
    cics = smf.ols("value ~ time", data=frame).fit()
    if len(batches) == 1:
        return Model.CICS, None, None, {batches[0]: _line_and_bounds(cics, batches[0], alpha)}
    dics = smf.ols("value ~ C(batch) + time", data=frame).fit()
    dids = smf.ols("value ~ C(batch) * time", data=frame).fit()
    p_slopes = _p_value(dics, dids)  # the batch x time interaction: are the slopes equal?
    if p_slopes is not None and p_slopes < POOLING_ALPHA:
        # Not poolable: Q1E bases the period on the batch expected to fail first, each batch
        # fitted on its own data (as JMP does; the textbook examples of Velagaleti agree).
        alone = {
            b: _line_and_bounds(smf.ols("value ~ time", data=rows).fit(), b, alpha)
            for b, rows in frame.groupby("batch", sort=False)
        }
        return Model.DIDS, p_slopes, None, alone
    p_intercepts = _p_value(cics, dics)  # the batch term in the common-slope model
    if p_intercepts is not None and p_intercepts < POOLING_ALPHA:
        chosen, model = dics, Model.DICS
    else:
        chosen, model = cics, Model.CICS
    return model, p_slopes, p_intercepts, {b: _line_and_bounds(chosen, b, alpha) for b in batches}


def _p_value(restricted: Any, full: Any) -> float | None:
    """The F test of a restricted model against the full one it is nested in."""
    # With a perfect fit the residual sums of squares are rounding noise and F their ratio:
    # decide on the sums themselves. None means "no evidence of a difference".
    negligible = 1e-12 * max(float(np.sum(np.square(full.model.endog))), 1.0)
    if float(full.ssr) <= negligible:
        return None if float(restricted.ssr) <= negligible else 0.0
    from statsmodels.stats.anova import anova_lm

    p = float(anova_lm(restricted, full)["Pr(>F)"].iloc[1])
    return p if math.isfinite(p) else None


def _line_and_bounds(fit: Any, batch: str, alpha: float) -> tuple[tuple[float, float], Bounds]:
    """A batch's intercept and slope under a fitted model, and its confidence bounds in time."""

    def bounds(times: Floats) -> tuple[Floats, Floats]:
        interval = np.asarray(fit.get_prediction(_at(batch, times)).conf_int(alpha=alpha))
        return interval[:, 0], interval[:, 1]

    start, one = np.asarray(fit.predict(_at(batch, np.array([0.0, 1.0]))), dtype=float)
    return (float(start), float(one - start)), bounds


def _at(batch: str, times: Floats) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"batch": [batch] * len(times), "time": times})


def _batch_line(
    batch: str, line: tuple[float, float], bounds: Bounds, criterion: Criterion, horizon: float
) -> BatchLine:
    crossing = _crossing(bounds, criterion, horizon)
    return BatchLine(batch, line[0], line[1], crossing, _band(bounds, crossing, horizon))


def _band(
    bounds: Bounds, crossing: float | None, horizon: float
) -> tuple[tuple[float, float, float], ...]:
    """The band sampled from 0 to a quarter past the crossing (or to the horizon)."""
    end = horizon if crossing is None else min(horizon, max(crossing * 1.25, horizon / 5))
    times = np.linspace(0.0, end, _BAND_POINTS)
    low, high = bounds(times)
    return tuple(
        (float(t), float(lo), float(hi)) for t, lo, hi in zip(times, low, high, strict=True)
    )


def _crossing(bounds: Bounds, criterion: Criterion, horizon: float) -> float | None:
    """The earliest time in [0, horizon] at which a bound meets its limit, or None."""

    def margin(times: Floats) -> Floats:
        low, high = bounds(times)
        room = np.full(times.shape, np.inf)
        if criterion.lower is not None:
            room = np.minimum(room, low - criterion.lower)
        if criterion.upper is not None:
            room = np.minimum(room, criterion.upper - high)
        return room

    grid = np.linspace(0.0, horizon, _GRID_STEPS + 1)
    met = np.flatnonzero(margin(grid) <= 0)
    if met.size == 0:
        return None
    first = int(met[0])
    if first == 0:
        return 0.0

    def scalar(t: float) -> float:
        return float(margin(np.array([t]))[0])

    if scalar(grid[first]) == 0:
        return float(grid[first])
    from scipy.optimize import brentq

    return float(brentq(scalar, grid[first - 1], grid[first], xtol=1e-9))


def _shortest(lines: Sequence[BatchLine], pooled: bool) -> tuple[float | None, str | None]:
    """The shortest batch's period; a line shared by all batches names none of them."""
    found = [line for line in lines if line.shelf_life is not None]
    if not found:
        return None, None
    first = min(found, key=lambda line: line.shelf_life or 0.0)
    determined_by = None if pooled and len(lines) > 1 else first.batch
    return first.shelf_life, determined_by


def _reason(
    shelf_life: float | None, criterion: Criterion, horizon: float, span: float
) -> str | None:
    level = f"{criterion.bound_level:.1%}".replace(".0%", "%")
    if shelf_life is None:
        return (
            f"The {level} confidence bound stays within the criterion up to {horizon:g}, "
            f"{HORIZON_FACTOR} times the {span:g} covered by the data; no estimate is made beyond."
        )
    if shelf_life == 0:
        return f"The {level} confidence bound is already outside the criterion at time 0."
    return None
