"""The shelf-life report of a stability study: per trended test at the long-term condition, the
ICH Q1E estimate (model, poolability p-values, statistical and proposed shelf life), the plot
and the data. Canonical JSON, HTML or PDF; the same data give the same bytes in every format."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any

from labgate.adapters.charts import shelf_life_png
from labgate.adapters.q1e_shelf_life import Criterion, ShelfLife, estimate_shelf_life
from labgate.adapters.reports.documents import Document, Format, record_document
from labgate.adapters.stability_observations import Observation
from labgate.compliance.canonical import content_hash
from labgate.domain.errors import Conflict, InvalidInput, NotFound


def shelf_life_of(series: dict[str, Any]) -> tuple[list[Observation], ShelfLife]:
    """The Q1E estimate of one trend series (trend_data); InvalidInput when the data are too few."""
    observations = [
        Observation(p["batch"], float(p["time"]), float(p["value"])) for p in series["points"]
    ]
    criterion = series["criterion"]
    bounds = [None if criterion[k] is None else float(criterion[k]) for k in ("lower", "upper")]
    return observations, estimate_shelf_life(observations, Criterion(*bounds))


def estimate_view(estimate: ShelfLife) -> dict[str, Any]:
    """The estimate as text numbers: what the report prints and the API returns."""
    return {
        "model": estimate.model.value,
        "p_slopes": _num(estimate.p_slopes, 4),
        "p_intercepts": _num(estimate.p_intercepts, 4),
        "shelf_life": _num(estimate.shelf_life, 1),
        "proposed_shelf_life": _num(estimate.proposed_shelf_life, 1),
        "determined_by": estimate.determined_by,
        "data_span": _num(estimate.data_span, 1),
        "extrapolation_limit": _num(estimate.extrapolation_limit, 1),
        "reason": estimate.reason,
        "batches": [
            {
                "batch": line.batch,
                "intercept": _num(line.intercept, 3),
                "slope": _num(line.slope, 4),
                "shelf_life": _num(line.shelf_life, 1),
            }
            for line in estimate.batches
        ],
    }


def with_estimates(trend: dict[str, Any]) -> dict[str, Any]:
    """Trend data (stability_views.trend_data) with each series' Q1E estimate, or `shelf_life:
    null` and why not: what GET .../trend answers and the console shows."""
    for series in trend["series"]:
        try:
            series["shelf_life"] = estimate_view(shelf_life_of(series)[1])
        except InvalidInput as error:
            series["shelf_life"], series["no_estimate"] = None, error.message
    return trend


def series_plot(
    trend: dict[str, Any], test: str, condition: str | None, marked: frozenset[str] = frozenset()
) -> bytes:
    """The Q1E plot (PNG) of one test at a condition (the long-term one unless named), with the
    points of the samples in `marked` ringed (out of trend); NotFound for a series the study
    does not trend, Conflict while its data carry no estimate."""
    wanted = condition or trend["long_term_condition"]
    series = next(
        (s for s in trend["series"] if (s["test_code"], s["condition"]) == (test, wanted)), None
    )
    if series is None:
        raise NotFound(
            f"Study {trend['study']} trends no {test} at {wanted}.",
            reason="stability.series_unknown",
            field="test",
        )
    try:
        observations, estimate = shelf_life_of(series)
    except InvalidInput as error:
        raise Conflict(error.message, reason="stability.too_few_data", field="results") from error
    rings = [Observation(p["batch"], float(p["time"]), float(p["value"]))
             for p in series["points"] if p["sample"] in marked]  # fmt: skip
    return shelf_life_png(observations, estimate, f"{trend['product']} {test} at {wanted}", rings)


def report_content(trend: dict[str, Any]) -> dict[str, Any]:
    """The report of a study from its trend data (stability_views.trend_data); Conflict naming
    the test when a series cannot carry a Q1E estimate yet."""
    condition = trend["long_term_condition"]
    tests = []
    for series in trend["series"]:
        if series["condition"] != condition:
            continue
        try:
            observations, estimate = shelf_life_of(series)
        except InvalidInput as error:
            raise Conflict(
                f"No shelf-life estimate for {series['test_code']} at {condition} yet: "
                f"{error.message}",
                reason="stability.too_few_data",
                field="results",
            ) from error
        title = f"{trend['product']} {series['test_code']} at {condition}"
        png = shelf_life_png(observations, estimate, title)
        tests.append(
            {
                "test_code": series["test_code"],
                "criterion": series["criterion"],
                "estimate": estimate_view(estimate),
                "data": series["points"],
                "plot_png": base64.b64encode(png).decode(),
                "plot_sha256": hashlib.sha256(png).hexdigest(),
            }
        )
    content: dict[str, Any] = {key: trend[key] for key in ("site", "study", "product", "batch")}
    content |= {
        "condition": condition,
        "tests": tests,
        "method": "ICH Q1E (2003): ANCOVA "
        "poolability at 0.25, 95% confidence bound; extrapolation min(2X, X + 12)",
    }
    content["content_sha256"] = content_hash(content)
    return content


def report_document(content: dict[str, Any], format: Format) -> Document:
    """The report in the format asked for, named after the study."""
    document = record_document(content, format, "stability.html.j2", "ShelfLife")
    name = f"ShelfLife-{content['site']}-{content['study']}.{format}"
    return dataclasses.replace(document, filename=name)


def _num(value: float | None, places: int) -> str | None:
    return None if value is None else f"{value:.{places}f}"
