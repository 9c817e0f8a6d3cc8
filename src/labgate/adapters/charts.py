"""Charts for reports and validation aids, as PNG bytes: the same data give the same bytes (no
timestamp or software version in the file), so a report that embeds one stays reproducible."""

from __future__ import annotations

import io

from labgate.adapters.q1e_shelf_life import ShelfLife
from labgate.adapters.stability_observations import Observation

# No pyplot: a Figure of its own per chart needs no GUI backend and no global state, so charts
# can be drawn from worker threads.
_SIZE, _DPI = (7.0, 4.5), 100


def shelf_life_png(
    observations: list[Observation],
    estimate: ShelfLife,
    title: str = "",
    marked: list[Observation] | None = None,
) -> bytes:
    """The ICH Q1E plot: results per batch, each batch's mean line with the one-sided (or
    two-sided) confidence bound the estimate used, the acceptance limits, the estimate and the
    proposed shelf life; the `marked` results (out of trend) ringed, when any are given."""
    from matplotlib.figure import Figure  # imported when first drawn: it takes a second or two

    figure = Figure(figsize=_SIZE, dpi=_DPI)
    axes = figure.add_subplot()
    criterion = estimate.criterion
    for index, line in enumerate(estimate.batches):
        colour = f"C{index % 10}"
        points = [o for o in observations if str(o.batch) == line.batch]
        axes.scatter([o.time for o in points], [o.value for o in points], s=14, color=colour,
                     label=f"batch {line.batch}")  # fmt: skip
        times = [t for t, _, _ in line.band]
        axes.plot(times, [line.intercept + line.slope * t for t in times], color=colour, lw=1)
        if criterion.lower is not None:
            axes.plot(times, [low for _, low, _ in line.band], color=colour, lw=0.8, ls="--")
        if criterion.upper is not None:
            axes.plot(times, [high for _, _, high in line.band], color=colour, lw=0.8, ls="--")
    for limit in (criterion.lower, criterion.upper):
        if limit is not None:
            axes.axhline(limit, color="firebrick", lw=1)
    if marked:
        axes.scatter([o.time for o in marked], [o.value for o in marked], s=90,
                     facecolors="none", edgecolors="firebrick", linewidths=1.5,
                     label="out of trend (OOT alert)")  # fmt: skip
    if estimate.shelf_life is not None:
        axes.axvline(estimate.shelf_life, color="black", lw=1,
                     label=f"estimate {estimate.shelf_life:.1f}")  # fmt: skip
    axes.axvline(estimate.proposed_shelf_life, color="grey", lw=1, ls=":",
                 label=f"proposed {estimate.proposed_shelf_life:.1f}")  # fmt: skip
    level = f"{estimate.criterion.bound_level:.1%}".replace(".0%", "%")
    axes.set_title(title or f"Shelf life (ICH Q1E, model {estimate.model.value}, {level} bound)")
    axes.set_xlabel("time")
    axes.set_ylabel("value")
    axes.legend(fontsize="small", loc="best")
    axes.grid(alpha=0.3)
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
