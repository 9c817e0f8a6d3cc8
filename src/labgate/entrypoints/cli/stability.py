"""`labgate stability`: the shelf-life estimate and the out-of-trend check, for checking by hand.

A thin edge for validation engineers: it reads CSV files with the header `batch,time,value`,
calls the same domain functions the hub uses, and prints a summary or, with `--json`, one JSON
object. Bad input exits 2 with one sentence naming the file, the field and the rule.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Annotated

import typer

from labgate.adapters.charts import shelf_life_png
from labgate.adapters.oot_regression import TrendCheck, check_trend
from labgate.adapters.q1e_shelf_life import CONFIDENCE, Criterion, ShelfLife, estimate_shelf_life
from labgate.adapters.stability_observations import Observation
from labgate.domain.errors import InvalidInput, LabgateError

__all__ = ["read_results", "stability_app"]

# Bad input exits 2, as Click does for usage errors and as `labgate evaluate` does.
EXIT_BAD_INPUT = 2
HEADER = ("batch", "time", "value")
# Plain decimal notation only: float() would also take "nan", "inf" and "1_000".
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

stability_app = typer.Typer(
    help="Stability statistics: ICH Q1E shelf life and out-of-trend results.",
    no_args_is_help=True,
)


@stability_app.command("shelf-life")
def shelf_life(
    data: Annotated[Path, typer.Argument(help="CSV with the header batch,time,value.")],
    lower: Annotated[
        float | None, typer.Option("--lower", help="Lower acceptance limit, e.g. 90.")
    ] = None,
    upper: Annotated[
        float | None, typer.Option("--upper", help="Upper acceptance limit, e.g. 0.5.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write the Q1E plot to this PNG file.")
    ] = None,
) -> None:
    """Estimate the shelf life per ICH Q1E; one limit is one-sided, both are two-sided."""
    if lower is None and upper is None:
        raise _bad_input(
            InvalidInput(
                "Give --lower, --upper or both: the shelf life is where the confidence bound "
                "of the mean meets an acceptance limit.",
                reason="stability.limit_missing",
                field="limit",
            )
        )
    try:
        criterion = Criterion(lower, upper)
        observations = read_results(data)
        estimate = estimate_shelf_life(observations, criterion)
    except LabgateError as error:
        raise _bad_input(error) from error
    if plot is not None:
        plot.write_bytes(shelf_life_png(observations, estimate))
    if as_json:
        typer.echo(json.dumps(_shelf_life_report(estimate)))
    else:
        typer.echo(_shelf_life_summary(estimate))


@stability_app.command("oot")
def oot(
    history: Annotated[Path, typer.Argument(help="Historical results: batch,time,value.")],
    new: Annotated[Path, typer.Argument(help="New results to check: batch,time,value.")],
    alpha: Annotated[
        float, typer.Option("--alpha", help="1 - level of the prediction interval.")
    ] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Flag new results outside the regression control chart of the historical batches."""
    try:
        check = check_trend(read_results(history), read_results(new), alpha)
    except LabgateError as error:
        raise _bad_input(error) from error
    typer.echo(json.dumps(_oot_report(check)) if as_json else _oot_summary(check))


def read_results(path: Path) -> list[Observation]:
    """Read a `batch,time,value` CSV, naming the line and column of the first bad field."""
    rows = csv.reader(io.StringIO(_read_text(path)))
    header = next(rows, None)
    if header is None or tuple(cell.strip() for cell in header) != HEADER:
        found = "nothing" if header is None else repr(",".join(header))
        raise InvalidInput(
            f"{path.name}: the header must be batch,time,value; found {found}.",
            reason="stability.csv_header",
            field="header",
        )
    results = [_observation(path.name, rows.line_num, row) for row in rows if any(row)]
    if not results:
        raise InvalidInput(
            f"{path.name} has a header but no results.", reason="stability.csv_empty", field="data"
        )
    return results


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: spreadsheets often save CSV with a byte-order mark before the header.
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        message = f"{path} does not exist."
    except UnicodeDecodeError:
        message = f"{path} is not UTF-8 text."
    except OSError as error:
        message = f"{path} cannot be read: {error.strerror}."
    raise InvalidInput(message, reason="stability.file_unreadable", field="file")


def _observation(name: str, line: int, row: list[str]) -> Observation:
    if len(row) != len(HEADER):
        raise InvalidInput(
            f"{name} line {line} has {len(row)} fields; each line needs 3 (batch,time,value).",
            reason="stability.csv_row",
            field="row",
        )
    batch = row[0].strip()
    if not batch:
        raise InvalidInput(
            f"{name} line {line}, column batch: the batch is empty.",
            reason="stability.csv_batch",
            field="batch",
        )
    return Observation(
        batch, _number(name, line, "time", row[1]), _number(name, line, "value", row[2])
    )


def _number(name: str, line: int, column: str, text: str) -> float:
    if not _NUMBER.fullmatch(text.strip()):
        raise InvalidInput(
            f"{name} line {line}, column {column}: {text.strip()!r} is not a number "
            "(write it like 98.5 or 1.2e-3).",
            reason="stability.csv_number",
            field=column,
        )
    return float(text)


def _bad_input(error: LabgateError) -> typer.Exit:
    typer.echo(error.message, err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _rounded(value: float | None) -> float | None:
    """Shelf lives to 2 decimals of the time unit: the precision anyone can act on."""
    return None if value is None else round(value, 2)


def _shelf_life_report(estimate: ShelfLife) -> dict[str, object]:
    """Lay the estimate out as the JSON object the command prints."""
    criterion = estimate.criterion
    return {
        "model": estimate.model.value,
        "shelf_life": _rounded(estimate.shelf_life),
        "proposed_shelf_life": _rounded(estimate.proposed_shelf_life),
        "determined_by": estimate.determined_by,
        "reason": estimate.reason,
        "p_slopes": estimate.p_slopes,
        "p_intercepts": estimate.p_intercepts,
        "lower": criterion.lower,
        "upper": criterion.upper,
        "sides": criterion.sides,
        "confidence": CONFIDENCE,
        "bound_level": criterion.bound_level,
        "data_span": estimate.data_span,
        "extrapolation_limit": estimate.extrapolation_limit,
        "horizon": estimate.horizon,
        "batches": [
            {
                "batch": line.batch,
                "intercept": line.intercept,
                "slope": line.slope,
                "shelf_life": _rounded(line.shelf_life),
            }
            for line in estimate.batches
        ],
    }


def _oot_report(check: TrendCheck) -> dict[str, object]:
    """Lay the check out as the JSON object the command prints."""
    fit = check.fit
    return {
        "alpha": check.alpha,
        "fit": {"intercept": fit.intercept, "slope": fit.slope, "s": fit.s, "n": fit.n},
        "points": [
            {
                "batch": p.batch,
                "time": p.time,
                "value": p.value,
                "predicted": p.predicted,
                "lower": p.lower,
                "upper": p.upper,
                "oot": p.oot,
            }
            for p in check.points
        ],
    }


def _text(value: float | str | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else value


def _shelf_life_summary(estimate: ShelfLife) -> str:
    """Render the estimate as a few aligned lines and a table of batches, for a person."""
    criterion = estimate.criterion
    sides = "two-sided" if criterion.sides == 2 else "one-sided"
    pooled = f"p slopes {_text(estimate.p_slopes)}, p intercepts {_text(estimate.p_intercepts)}"
    lines = [
        ("Model", f"{estimate.model.value} ({pooled}; pooled when p >= 0.25)"),
        (
            "Limits",
            f"lower {_text(criterion.lower)}, upper {_text(criterion.upper)} "
            f"({sides}, {criterion.bound_level:.1%} confidence bound per side)",
        ),
        ("Shelf life", _estimate_text(estimate)),
        (
            "Proposed",
            f"{_text(_rounded(estimate.proposed_shelf_life))} (Q1E limit "
            f"{estimate.extrapolation_limit:g} from {estimate.data_span:g} of data)",
        ),
    ]
    if estimate.reason:
        lines.append(("Note", estimate.reason))
    text = [f"{label + ':':<12}{value}" for label, value in lines]
    text.append(f"{'Batch':<12}{'Intercept':>12}{'Slope':>12}{'Shelf life':>12}")
    text.extend(
        f"{line.batch:<12}{line.intercept:>12.4f}{line.slope:>12.5f}"
        f"{_text(_rounded(line.shelf_life)):>12}"
        for line in estimate.batches
    )
    return "\n".join(text)


def _estimate_text(estimate: ShelfLife) -> str:
    if estimate.shelf_life is None:
        return "none within the horizon (see the note)"
    limiting = estimate.determined_by
    which = "all batches pooled" if limiting is None else f"batch {limiting}"
    return f"{_text(_rounded(estimate.shelf_life))} ({which})"


def _oot_summary(check: TrendCheck) -> str:
    """Render the check as the fit and one line per new result, for a person."""
    fit = check.fit
    text = [
        f"Fit: value = {fit.intercept:.4f} {'-' if fit.slope < 0 else '+'} {abs(fit.slope):.5f}"
        f" x time; s = {fit.s:.4g}, "
        f"n = {fit.n}; {1 - check.alpha:.0%} prediction interval for one new result",
        f"{'Batch':<12}{'Time':>8}{'Value':>10}{'Predicted':>11}{'Lower':>10}{'Upper':>10}  OOT",
    ]
    text.extend(
        f"{p.batch:<12}{p.time:>8g}{p.value:>10g}{p.predicted:>11.3f}{p.lower:>10.3f}"
        f"{p.upper:>10.3f}  {'yes (alert)' if p.oot else 'no'}"
        for p in check.points
    )
    return "\n".join(text)
