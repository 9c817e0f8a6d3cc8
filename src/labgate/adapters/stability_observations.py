"""Stability results as the regressions read them (`q1e_shelf_life.py`, `oot_regression.py`):
one observation per result, checked (finite, not before time 0, enough) and laid out for
statsmodels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

# pandas is imported where it is used: it takes a second to import, and every labgate process
# (the API, each worker, the CLI) imports this module through the OOT check while most never
# fit a line.
if TYPE_CHECKING:
    import pandas as pd

from labgate.domain.errors import InvalidInput

__all__ = ["Observation", "observation_frame"]


@dataclass(frozen=True)
class Observation:
    """One stability result: the batch, its age at testing, and the value measured."""

    batch: str
    time: float
    value: float


def observation_frame(
    observations: Sequence[Observation], what: str, minimum: int = 3
) -> pd.DataFrame:
    """Check the results are finite, not before time 0, and enough; lay them out for statsmodels."""
    if len(observations) < minimum:
        raise InvalidInput(
            f"{what} needs at least {minimum} results; there are {len(observations)}.",
            reason="stability.too_few_points",
            field="results",
        )
    for o in observations:
        if not (math.isfinite(o.time) and math.isfinite(o.value)):
            raise InvalidInput(
                f"Batch {o.batch!r} has a result that is not a finite number.",
                reason="stability.value_not_finite",
                field="value",
            )
        if o.time < 0:
            raise InvalidInput(
                f"Batch {o.batch!r} has a result at time {o.time:g}; times start at 0.",
                reason="stability.time_negative",
                field="time",
            )
    import pandas as pd

    return pd.DataFrame(
        {
            "batch": [str(o.batch) for o in observations],
            "time": [float(o.time) for o in observations],
            "value": [float(o.value) for o in observations],
        }
    )
