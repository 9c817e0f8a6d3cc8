"""The out-of-trend (OOT) regression check of stability results: a new result outside the
prediction interval of the historical line is out of trend.

The method: the regression control chart of the PhRMA CMC Statistics and Stability Expert
Teams ("Identification of Out-of-Trend Stability Results", Pharm. Technol. 2003; follow-up
2005): one line, common slope and intercept, fitted to the historical batches; a new result
outside the prediction interval for a single new observation at its time is out of trend.
An OOT result is an alert for investigation, never a rejection.

Pure computation on floats, no I/O (numpy and statsmodels); the OOT port's adapter over
Decimals is `trend_check.py`, the shelf-life estimate is `q1e_shelf_life.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

# statsmodels (and pandas under it) is imported where it is used: it takes seconds to import,
# and every labgate process (the API, each worker, the CLI) imports this module through the OOT
# check while most never fit a line.
if TYPE_CHECKING:
    import pandas as pd

from labgate.adapters.stability_observations import Observation, observation_frame
from labgate.domain.errors import InvalidInput

__all__ = ["TrendCheck", "TrendFit", "TrendPoint", "check_trend"]


@dataclass(frozen=True)
class TrendFit:
    """The historical line of the regression control chart."""

    intercept: float
    slope: float
    s: float  # residual standard deviation
    n: int
    mean_time: float
    sxx: float  # sum of squared deviations of time from its mean


@dataclass(frozen=True)
class TrendPoint:
    """A new result judged against the prediction interval at its time."""

    batch: str
    time: float
    value: float
    predicted: float
    lower: float
    upper: float
    oot: bool


@dataclass(frozen=True)
class TrendCheck:
    """The regression control chart applied to new results, in their order."""

    fit: TrendFit
    alpha: float
    points: tuple[TrendPoint, ...]


def check_trend(
    history: Sequence[Observation], new: Sequence[Observation], alpha: float = 0.05
) -> TrendCheck:
    """Flag new results outside the (1 - alpha) prediction interval of the historical line."""
    if not 0 < alpha < 1:
        raise InvalidInput(
            f"alpha must lie strictly between 0 and 1; {alpha:g} does not.",
            reason="stability.alpha_range",
            field="alpha",
        )
    frame = observation_frame(history, "The historical line")
    if frame["time"].nunique() < 2:
        raise InvalidInput(
            "The historical results are all at one time; a trend needs at least two times.",
            reason="stability.single_time",
            field="time",
        )
    if not new:
        raise InvalidInput(
            "There are no new results to check.", reason="stability.no_new_results", field="new"
        )
    fresh = observation_frame(new, "The check", minimum=1)
    import statsmodels.formula.api as smf

    fit = smf.ols("value ~ time", data=frame).fit()
    interval = np.asarray(fit.get_prediction(fresh).conf_int(obs=True, alpha=alpha))
    predicted = np.asarray(fit.predict(fresh), dtype=float)
    points = tuple(
        TrendPoint(
            o.batch, o.time, o.value, float(p), float(lo), float(hi), not lo <= o.value <= hi
        )
        for o, p, lo, hi in zip(new, predicted, interval[:, 0], interval[:, 1], strict=True)
    )
    return TrendCheck(_trend_fit(fit, frame), alpha, points)


def _trend_fit(fit: Any, frame: pd.DataFrame) -> TrendFit:
    times = frame["time"].to_numpy(dtype=float)
    return TrendFit(
        intercept=float(fit.params["Intercept"]),
        slope=float(fit.params["time"]),
        s=math.sqrt(float(fit.mse_resid)),
        n=len(times),
        mean_time=float(times.mean()),
        sxx=float(((times - times.mean()) ** 2).sum()),
    )
